/** Moved to tools/vitest-global-setup.ts (vitest.config.ts points there); kept for old references. */
export { setup, teardown } from '../../../tools/vitest-global-setup.js';
