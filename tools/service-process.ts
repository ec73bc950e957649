/**
 * The real service as a child process (`service/src/main.ts`, or the job `worker.ts`), on a free
 * port, signed with TEST_SECRET unless `env.JWT_SECRET` says otherwise, so a test or a load test can
 * kill -9 it. Resolves once /readyz answers (the worker: once it says it runs). `built: true` runs
 * the compiled service (`node dist/service/src/main.js`, what production runs; `npm run build`
 * first) instead of the sources through tsx. `root`: another checkout's service (its own dist/ or
 * sources), e.g. an older commit measured by this tree's benches for a before/after comparison.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { REPO_ROOT } from './paths.js';
import { TEST_SECRET } from './token.js';

export interface ServiceProcess {
  url: string;
  wsUrl: string;
  instanceId: string;
  proc: ChildProcess;
  output: () => string;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function spawnService(
  env: Record<string, string>,
  instanceId: string,
  opts: { entry?: 'main' | 'worker'; built?: boolean; root?: string; nodeArgs?: string[] } = {},
): Promise<ServiceProcess> {
  const port = await freePort();
  let out = '';
  const entry = opts.entry ?? 'main';
  const root = opts.root ?? REPO_ROOT;
  const args = opts.built
    ? [join(root, 'dist', 'service', 'src', `${entry}.js`)]
    : ['--import', 'tsx', join(root, 'service', 'src', `${entry}.ts`)];
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...args], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      PORT: String(port),
      HOST: '127.0.0.1',
      JWT_SECRET: TEST_SECRET,
      LOG_LEVEL: 'info',
      INSTANCE_ID: instanceId,
      SHUTDOWN_TIMEOUT_MS: '3000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (c: Buffer) => (out += String(c)));
  proc.stderr!.on('data', (c: Buffer) => (out += String(c)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  // A worker has no HTTP side: it is up once it says so.
  while (entry === 'worker' && !out.includes('worker running')) {
    if (proc.exitCode !== null) throw new Error(`worker ${instanceId} exited at start-up:\n${out}`);
    if (Date.now() > deadline) throw new Error(`worker ${instanceId} did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  for (; entry === 'main'; ) {
    if (proc.exitCode !== null) throw new Error(`service ${instanceId} exited at start-up:\n${out}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`service ${instanceId} not ready:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    wsUrl: `ws://127.0.0.1:${port}/ws/realtime`,
    instanceId,
    proc,
    output: () => out,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      // Already gone: exitCode stays null for a process ended by a signal, so check both.
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
      proc.kill(signal);
      return exited;
    },
  };
}
