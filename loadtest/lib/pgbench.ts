/**
 * pgbench against a throwaway PostgreSQL: one script (`-f`), `-n -M prepared`, N clients, T seconds,
 * the client run as the current user (it only connects over TCP). Its tps, mean latency and
 * transaction count are parsed from its summary.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findPgBinDir } from '../../tools/postgres-server.js';

export interface PgbenchOptions {
  url: string;
  /** The script's text (pgbench syntax: `\set`, `:var`). */
  script: string;
  clients: number;
  threads?: number;
  seconds: number;
  /** Transactions per second on a schedule (`-R`), instead of as fast as the clients go. */
  rate?: number;
  /** Extra environment, e.g. PGOPTIONS='-c synchronous_commit=off' for pgbench's sessions only. */
  env?: Record<string, string>;
  signal?: AbortSignal;
}

export interface PgbenchResult {
  tps: number;
  latencyMs: number;
  transactions: number;
  failed: number;
}

export async function runPgbench(o: PgbenchOptions): Promise<PgbenchResult> {
  const bin = findPgBinDir();
  if (!bin) throw new Error('PostgreSQL binaries not found under /usr/lib/postgresql/*/bin');
  const dir = mkdtempSync(join(tmpdir(), 'rt-pgbench-'));
  const file = join(dir, 'script.sql');
  writeFileSync(file, o.script);
  chmodSync(file, 0o644);
  const args = ['-n', '-c', String(o.clients), '-j', String(o.threads ?? 2), '-M', 'prepared', '-T', String(o.seconds), ...(o.rate ? ['-R', String(o.rate)] : []), '-f', file, o.url];
  try {
    const out = await new Promise<string>((resolve, reject) => {
      execFile(join(bin, 'pgbench'), args, { env: { ...process.env, LC_ALL: 'C', ...o.env }, signal: o.signal, timeout: (o.seconds + 60) * 1000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`pgbench failed: ${err.message}\n${stderr.slice(-2_000)}`));
        else resolve(stdout);
      });
    });
    const n = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
    return {
      tps: n(/tps = ([\d.]+)/),
      latencyMs: n(/latency average = ([\d.]+) ms/),
      transactions: n(/number of transactions actually processed: (\d+)/),
      failed: n(/number of failed transactions: (\d+)/) || 0,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
