/**
 * A service instance that can be killed and started again on the same port, as a process
 * supervisor would: devices and writers keep a fixed list of URLs, so a restarted instance must come
 * back where it was. (tools/service-process.ts picks a new port per process; this one keeps it.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../free-port.js';
import { REPO_ROOT, SERVICE_MAIN } from '../paths.js';
import { TEST_SECRET } from '../token.js';

export interface ChaosInstance {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  /** Times the process was started. */
  starts(): number;
  running(): boolean;
  /** Start (again) on the same port; resolves once /readyz answers 200. */
  start(): Promise<void>;
  /**
   * Send `signal` and wait for the process to exit (SIGTERM: the graceful drain). Resolves true when
   * it had to be killed by force after 20 s (a drain that never ends is a finding).
   */
  kill(signal: NodeJS.Signals): Promise<boolean>;
  /** GET /readyz answers 200. */
  ready(): Promise<boolean>;
  /** Wait until ready, up to `timeoutMs`; false if it never was. */
  waitReady(timeoutMs: number): Promise<boolean>;
  /** The tail of the process's output (logs), for failure messages. */
  output(): string;
}

export async function createInstance(name: string, env: Record<string, string>): Promise<ChaosInstance> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let proc: ChildProcess | null = null;
  let starts = 0;
  let out = '';
  const alive = (p: ChildProcess | null): boolean => p !== null && p.exitCode === null && p.signalCode === null;

  const ready = async () => {
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      return res.ok;
    } catch {
      return false;
    }
  };

  const waitReady = async (timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await ready()) return true;
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  return {
    name,
    port,
    url,
    starts: () => starts,
    running: () => alive(proc),
    ready,
    waitReady,
    output: () => out,
    async start() {
      if (alive(proc)) throw new Error(`${name} is already running`);
      starts += 1;
      const p = spawn(process.execPath, ['--import', 'tsx', SERVICE_MAIN], {
        cwd: REPO_ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/tmp',
          HOST: '127.0.0.1',
          JWT_SECRET: TEST_SECRET,
          LOG_LEVEL: 'warn',
          SHUTDOWN_TIMEOUT_MS: '3000',
          RESTART_JITTER_MS: '300',
          ...env,
          PORT: String(port),
          INSTANCE_ID: `${name}-${starts}`,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const keep = (c: Buffer) => (out = (out + String(c)).slice(-30_000));
      p.stdout!.on('data', keep);
      p.stderr!.on('data', keep);
      proc = p;
      const deadline = Date.now() + 90_000;
      for (;;) {
        if (!alive(p)) throw new Error(`${name} exited at start-up (code ${p.exitCode}, signal ${p.signalCode}):\n${out}`);
        if (await ready()) return;
        if (Date.now() > deadline) {
          p.kill('SIGKILL');
          throw new Error(`${name} not ready within 90 s:\n${out}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async kill(signal) {
      const p = proc;
      if (!p || !alive(p)) return false;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill(signal);
      // A drain is bounded by SHUTDOWN_TIMEOUT_MS; past that, something is stuck: end it by force.
      let forced = false;
      const force = setTimeout(() => {
        forced = true;
        p.kill('SIGKILL');
      }, 20_000);
      await exited;
      clearTimeout(force);
      return forced;
    },
  };
}
