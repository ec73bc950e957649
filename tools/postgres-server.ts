/**
 * A throwaway PostgreSQL (tests, the latency gate, load tests): initdb + pg_ctl from the machine's
 * binaries (/usr/lib/postgresql/<version>/bin) in a temp dir, on a free port on 127.0.0.1.
 * initdb refuses to run as root, so as root the server runs as the `postgres` system user.
 * Tests run it with fsync off (fast, not crash-safe); `durable: true` keeps PostgreSQL's production
 * defaults (fsync, synchronous_commit, full_page_writes on) for benchmarks of the write path and the
 * chaos suite (an acknowledged write must survive `restart('immediate')`, a crash of the server).
 * `stop`/`start` block (simple for tests); `stopAsync`/`startAsync`/`restart` do not, so clients in
 * the same process keep running while the server is down (tools/chaos).
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

export function findPgBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : null;
}

export interface PgServer {
  url: string;
  port: number;
  dataDir: string;
  /** Stop the server: `fast` (clean, the default) or `immediate` (like a crash of the server process). */
  stop(mode?: 'fast' | 'immediate'): void;
  start(): void;
  /** `stop` without blocking the event loop. */
  stopAsync(mode?: 'fast' | 'immediate'): Promise<void>;
  /** `start` (same data dir and port) without blocking the event loop; resolves once it accepts connections. */
  startAsync(): Promise<void>;
  /** Stop (`fast` by default; `immediate` is a crash and recovery), wait `downMs`, start again on the same port. */
  restart(mode?: 'fast' | 'immediate', downMs?: number): Promise<void>;
}

export interface StartPostgresOptions {
  /** fsync, synchronous_commit and full_page_writes on (production settings) instead of off. */
  durable?: boolean;
}

export async function startPostgres(options: StartPostgresOptions = {}): Promise<PgServer> {
  const bin = findPgBinDir();
  if (!bin) throw new Error('PostgreSQL binaries not found under /usr/lib/postgresql/*/bin (install postgresql)');
  const isRoot = userInfo().uid === 0;
  const dir = mkdtempSync(join(tmpdir(), 'rt-pg-'));
  const dataDir = join(dir, 'data');
  let uid: number | undefined;
  let gid: number | undefined;
  if (isRoot) {
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (id.status !== 0) throw new Error('Running as root and there is no postgres system user to run initdb as');
    uid = Number(id.stdout.trim());
    gid = Number(g.stdout.trim());
    chownSync(dir, uid, gid);
    chmodSync(dir, 0o700);
  }
  const runOpts = { uid, gid, cwd: dir, env: { ...process.env, LC_ALL: 'C' } };
  const run = (cmd: string, args: string[]) => execFileSync(join(bin, cmd), args, { ...runOpts, stdio: ['ignore', 'pipe', 'pipe'] });
  const runAsync = (cmd: string, args: string[]) =>
    new Promise<void>((resolve, reject) => {
      execFile(join(bin, cmd), args, runOpts, (err, _stdout, stderr) => (err ? reject(new Error(`${cmd}: ${err.message} ${stderr}`)) : resolve()));
    });
  const port = await freePort();
  run('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const safety = options.durable ? '-c fsync=on -c synchronous_commit=on -c full_page_writes=on' : '-c fsync=off -c full_page_writes=off';
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 ${safety} -c max_connections=300`;
  const startArgs = ['-D', dataDir, '-o', opts, '-l', join(dir, 'log'), '-w', '-t', '60', 'start'];
  const stopArgs = (mode: 'fast' | 'immediate') => ['-D', dataDir, '-m', mode, '-w', 'stop'];
  const start = () => run('pg_ctl', startArgs);
  const stop = (mode: 'fast' | 'immediate' = 'fast') => {
    try {
      run('pg_ctl', stopArgs(mode));
    } catch {
      // already stopped
    }
  };
  const stopAsync = (mode: 'fast' | 'immediate' = 'fast') => runAsync('pg_ctl', stopArgs(mode)).catch(() => undefined); // already stopped
  const startAsync = () => runAsync('pg_ctl', startArgs);
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    start,
    stop,
    stopAsync,
    startAsync,
    async restart(mode = 'fast', downMs = 0) {
      await stopAsync(mode);
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await startAsync();
    },
  };
}

/** Stop the server and delete its directory. */
export function removePostgres(server: PgServer): void {
  server.stop('immediate');
  rmSync(join(server.dataDir, '..'), { recursive: true, force: true });
}
