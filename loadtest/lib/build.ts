/**
 * The benches measure the service as production runs it: compiled (`node dist/service/src/main.js`),
 * not through tsx, and drive it with rtctl compiled too (`dist/cli/src/main.js`). `ensureBuilt`
 * runs `npm run build` when dist/ is missing or older than any source file it is built from
 * (service/src, client/src, cli/src; tests excluded).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, RTCTL_BUILT } from '../../tools/paths.js';

export const BUILT_MAIN = join(REPO_ROOT, 'dist', 'service', 'src', 'main.js');
const SOURCES = ['service/src', 'client/src', 'cli/src', 'tsconfig.json', 'tsconfig.build.json', 'tools/build-client.ts'];

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return /\.test\.tsx?$/.test(path) ? 0 : st.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((n) => newestMtime(join(path, n))));
}

/** Why dist/ must be rebuilt, or null when it is up to date. */
export function staleReason(): string | null {
  if (!existsSync(BUILT_MAIN) || !existsSync(RTCTL_BUILT)) return 'dist/ is missing';
  const built = statSync(BUILT_MAIN).mtimeMs;
  const newest = Math.max(...SOURCES.map((s) => join(REPO_ROOT, s)).filter(existsSync).map(newestMtime));
  return newest > built ? 'dist/ is older than the sources' : null;
}

export function ensureBuilt(log: (line: string) => void = console.log): void {
  const why = staleReason();
  if (!why) return;
  log(`${why}: npm run build`);
  const r = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`npm run build failed (exit ${r.status ?? r.signal}); fix the build or run the bench on a tree that builds`);
}
