/**
 * A throwaway redis-server for tests (Debian's redis-server, installed by .ci/run when missing), on a
 * free port on 127.0.0.1, no persistence. `REDIS_URL` in the environment is used instead when set
 * (then restart() is not available).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { freePort } from './postgres-server.js';

export function redisServerBinary(): string | null {
  const r = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

export interface RedisServer {
  url: string;
  port: number;
  /** Kill -9 the server (in-flight data and subscriptions are lost). */
  kill(): Promise<void>;
  /** Start it again on the same port. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ port, host: '127.0.0.1' }, () => {
        s.end();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startRedis(): Promise<RedisServer> {
  const bin = redisServerBinary();
  if (!bin) throw new Error('redis-server not found (Debian package redis-server; .ci/run installs it)');
  const port = await freePort();
  let proc: ChildProcess | null = null;
  const start = async () => {
    proc = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], {
      stdio: 'ignore',
    });
    await waitForPort(port);
  };
  const kill = async () => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, port, kill, start, stop: kill };
}

/** Redis for a suite: the throwaway server, or a reason to skip (locally) / fail (CI). */
export async function redisForSuite(): Promise<{ server: RedisServer | null; skip: string | null }> {
  try {
    return { server: await startRedis(), skip: null };
  } catch (err) {
    const reason = `Redis unavailable: ${(err as Error).message}`;
    if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`${reason} (CI=true: Redis tests may not be skipped)`);
    return { server: null, skip: reason };
  }
}
