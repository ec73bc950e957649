/**
 * A throwaway redis-server (Debian's redis-server, installed by .ci/run when missing), on a free
 * port on 127.0.0.1, no persistence. `kill` + `start` (or `restart`) bring it back on the same port,
 * empty: what a crashed Redis looks like to the service (tests and tools/chaos).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort, waitForPort } from './free-port.js';

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
  /** Kill -9, wait `downMs`, start again on the same port. */
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
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
    await waitForPort(port, 'redis-server');
  };
  const kill = async () => {
    const p = proc;
    // signalCode too: a killed process has no exit code, and its 'exit' has already been emitted.
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  };
  await start();
  const restart = async (downMs = 0) => {
    await kill();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await start();
  };
  return { url: `redis://127.0.0.1:${port}`, port, kill, start, restart, stop: kill };
}
