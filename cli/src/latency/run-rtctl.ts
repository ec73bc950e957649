/** Where the rtctl launcher is, for the scripts that run it as a child process (latency:ci, baseline). */
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const RTCTL = fileURLToPath(new URL('../../bin/rtctl.js', import.meta.url));
