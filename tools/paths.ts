/** Where things are in the repository, for the tools that start its programs as child processes. */
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
/** The rtctl launcher (runs the TypeScript sources through tsx). */
export const RTCTL = fileURLToPath(new URL('../cli/bin/rtctl.js', import.meta.url));
/** rtctl compiled by `npm run build` (what the benches run: loadtest/lib/build.ts `ensureBuilt` first). */
export const RTCTL_BUILT = fileURLToPath(new URL('../dist/cli/src/main.js', import.meta.url));
/** The service's entry point (tools/service-process.ts starts main or worker of any checkout). */
export const SERVICE_MAIN = fileURLToPath(new URL('../service/src/main.ts', import.meta.url));
