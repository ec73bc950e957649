/**
 * How to start pglite-worker-thread as a thread or as a process, both from TypeScript (under tsx
 * for `npm start`, under vitest for the tests) and from the compiled JavaScript in dist/.
 */
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** The worker script next to this module, with this module's extension (.ts from source, .js once built). */
export function workerScriptUrl(): URL {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./pglite-worker-thread${ext}`, import.meta.url);
}

const isTs = (script: URL) => script.pathname.endsWith('.ts');

/**
 * A thread running the script. From TypeScript, a two-line bootstrap registers tsx's CommonJS hook
 * in the thread and requires the script: Node 20 does not apply `--import` loaders to a worker's
 * entry module, and tsx's ESM hook would start one more hooks thread (a V8 isolate, ~30 MB more
 * RSS) besides the one of the service's thread. So the script must load as CommonJS too (no
 * import.meta, no top-level await).
 */
export function startWorkerThread(script: URL, opts: WorkerOptions): Worker {
  if (!isTs(script)) return new Worker(script, opts);
  const tsxCjs = createRequire(import.meta.url).resolve('tsx/cjs/api');
  const bootstrap = `require(${JSON.stringify(tsxCjs)}).register();\nrequire(${JSON.stringify(fileURLToPath(script))});`;
  return new Worker(bootstrap, { ...opts, eval: true, execArgv: [] });
}

/** Node arguments that run the script as a process (tsx's loader for TypeScript; it does apply there). */
export function processArgs(script: URL, args: string[]): string[] {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return [...(isTs(script) ? ['--import', tsx] : []), fileURLToPath(script), ...args];
}
