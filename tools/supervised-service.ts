/**
 * The service as a supervised child process for the latency gate (latency-ci.ts, the baseline) and
 * the check tests: restarted on the same port whenever it exits (so `graceful-restart` can drain it
 * with `kill -TERM <pid>` and see it come back), with its data kept across restarts (DATA_DIR for
 * PGlite, or a PostgreSQL database). The pid of the current process is in `pidFile`; `restartCmd` is the shell command that drains it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { REPO_ROOT, SERVICE_MAIN } from './paths.js';

export interface SupervisedService {
  url: string;
  pidFile: string;
  restartCmd: string;
  /** Times the process was started (1 + restarts). */
  starts(): number;
  output(): string;
  stop(): Promise<void>;
}

export async function startSupervisedService(opts: {
  env?: Record<string, string>;
  databaseUrl?: string;
  secret: string;
  name: string;
  /** Embedded PGlite in memory (what `npm start` does): faster, but a restart loses the data and the epoch. */
  inMemory?: boolean;
}): Promise<SupervisedService> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `rt-${opts.name}-`));
  const pidFile = join(dir, 'service.pid');
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  let stopping = false;
  let starts = 0;
  let out = '';
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    PORT: String(port),
    HOST: '127.0.0.1',
    JWT_SECRET: opts.secret,
    LOG_LEVEL: 'warn',
    INSTANCE_ID: opts.name,
    SHUTDOWN_TIMEOUT_MS: '3000',
    RESTART_JITTER_MS: '300',
    ERP_DELAY_MS: '100',
    ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : opts.inMemory ? {} : { DATA_DIR: join(dir, 'data') }),
    ...opts.env,
  };
  const spawnOnce = () => {
    starts += 1;
    const c = spawn(process.execPath, ['--import', 'tsx', SERVICE_MAIN], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout!.on('data', (b: Buffer) => (out = (out + String(b)).slice(-20_000)));
    c.stderr!.on('data', (b: Buffer) => (out = (out + String(b)).slice(-20_000)));
    writeFileSync(pidFile, String(c.pid));
    c.once('exit', () => {
      if (!stopping) setTimeout(spawnOnce, 100); // the supervisor: bring it back on the same port
    });
    child = c;
  };
  spawnOnce();
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      // starting
    }
    if (Date.now() > deadline) {
      stopping = true;
      child!.kill('SIGKILL');
      throw new Error(`service ${opts.name} did not become ready:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    pidFile,
    restartCmd: `kill -TERM "$(cat '${pidFile}')"`,
    starts: () => starts,
    output: () => out,
    async stop() {
      stopping = true;
      const c = child!;
      if (c.exitCode === null && c.signalCode === null) {
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
