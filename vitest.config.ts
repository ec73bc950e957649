import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['service/**/*.test.ts', 'client/**/*.test.ts', 'cli/**/*.test.ts', 'cli/**/*.test.tsx', 'loadtest/**/*.test.ts', 'dashboards/**/*.test.ts'],
    globalSetup: ['tools/vitest-global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // 2-core machines: PGlite start-up is CPU-heavy, so keep parallel files bounded.
    maxWorkers: 2,
    pool: 'forks',
  },
});
