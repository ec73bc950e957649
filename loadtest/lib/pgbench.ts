/**
 * pgbench against a throwaway PostgreSQL: one script (`-f`), `-n -M prepared`, N clients, T seconds,
 * the client run as the current user (it only connects over TCP). Its tps, mean latency and
 * transaction count are parsed from its summary; with `latencies`, each transaction's latency from
 * its log (`-l`): with `-R` pgbench times a transaction from its scheduled start (open loop, as
 * rtctl does), so these percentiles are the database's own answer to "how long does a commit take
 * at this rate".
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  /** Log every transaction (`-l`) and return the latency percentiles. */
  latencies?: boolean;
}

export interface LatencyPercentiles {
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

export interface PgbenchResult {
  tps: number;
  latencyMs: number;
  transactions: number;
  failed: number;
  /** Per-transaction latency in ms (with `latencies`; null otherwise or when nothing was logged). */
  latency: LatencyPercentiles | null;
}

export async function runPgbench(o: PgbenchOptions): Promise<PgbenchResult> {
  const bin = findPgBinDir();
  if (!bin) throw new Error('PostgreSQL binaries not found under /usr/lib/postgresql/*/bin');
  const dir = mkdtempSync(join(tmpdir(), 'rt-pgbench-'));
  const file = join(dir, 'script.sql');
  writeFileSync(file, o.script);
  chmodSync(file, 0o644);
  const args = ['-n', '-c', String(o.clients), '-j', String(o.threads ?? 2), '-M', 'prepared', '-T', String(o.seconds), ...(o.rate ? ['-R', String(o.rate)] : []), ...(o.latencies ? ['-l', `--log-prefix=${join(dir, 'tx')}`] : []), '-f', file, o.url];
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
      latency: o.latencies ? readLatencies(dir) : null,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * pgbench's per-transaction logs (`tx.<pid>[.<thread>]`): `client_id transaction_no time script_no
 * time_epoch time_us [schedule_lag]`, `time` in µs; a skipped transaction (`--latency-limit`) says
 * `skipped` and is left out. Percentiles by rank over every logged transaction, in ms.
 */
export function readLatencies(dir: string): LatencyPercentiles | null {
  const us: number[] = [];
  for (const f of readdirSync(dir).filter((x) => x.startsWith('tx.'))) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      const v = Number(line.split(' ')[2]); // NaN for an empty line or `skipped`
      if (Number.isFinite(v)) us.push(v);
    }
  }
  if (us.length === 0) return null;
  us.sort((a, b) => a - b);
  const at = (q: number) => us[Math.min(us.length - 1, Math.ceil(q * us.length) - 1)]! / 1000;
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: us[us.length - 1]! / 1000 };
}
