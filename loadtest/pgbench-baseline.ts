/**
 * What PostgreSQL alone does with the service's write: pgbench (`-n -c 8 -j 2 -M prepared`) running
 * the service's own draft-create SQL (the `rt_draft_create` call of storage/sql-writes.ts, script
 * from write-path.ts) on a throwaway PostgreSQL with fsync on, migrated by the service's migrations.
 * Also PostgreSQL's CPU per transaction (every postgres process, from /proc, over the run), the
 * figure the service's PostgreSQL CPU per write is compared with.
 *
 * With --rate, the same again at that fixed rate (`-R`): PostgreSQL's CPU per transaction when
 * commits come one at a time, as the service's do at that rate.
 *
 *   npx tsx loadtest/pgbench-baseline.ts [--seconds 15] [--clients 8] [--rate 300]
 */
import { parseArgs } from 'node:util';
import { isMain, runMain, writeResult } from './lib/cli.js';
import { handleInterrupts, type Interrupt } from './lib/interrupt.js';
import { runPgbench, type LatencyPercentiles } from './lib/pgbench.js';
import { treeCpuSeconds } from './lib/proc.js';
import { startDatabase } from './lib/stack.js';
import { pgbenchScripts } from './write-path.js';

export interface PgbenchBaseline {
  script: 'rt_draft_create';
  settings: string;
  clients: number;
  seconds: number;
  tps: number;
  latencyMs: number;
  transactions: number;
  failed: number;
  /** CPU of every postgres process over the run, per transaction (null when /proc was not readable). */
  postgresCpuMsPerTx: number | null;
  /**
   * The same script at a fixed rate (`-R`, the rate of the bench's e2e run): PostgreSQL's CPU per
   * transaction when commits arrive one by one, as the service's do at that rate, instead of
   * saturated (where one WAL flush serves several commits and no backend sleeps between them).
   */
  atRate: { rate: number; seconds: number; tps: number; transactions: number; postgresCpuMsPerTx: number | null; latency: LatencyPercentiles | null } | null;
}

/** PostgreSQL's CPU (every postgres process) over one pgbench run, per transaction. */
async function measured<R extends { transactions: number }>(db: { postmasterPid(): number | null }, run: () => Promise<R>) {
  const pid = db.postmasterPid();
  const before = pid === null ? null : treeCpuSeconds(pid);
  const r = await run();
  const after = pid === null ? null : treeCpuSeconds(pid);
  return { r, cpuMsPerTx: before === null || after === null || !r.transactions ? null : ((after - before) * 1000) / r.transactions };
}

export async function runPgbenchBaseline(o: { seconds: number; clients: number; rate?: number }, interrupt: Interrupt): Promise<PgbenchBaseline> {
  const db = await startDatabase(interrupt, { migrate: true });
  try {
    const script = pgbenchScripts().rt_draft_create!;
    const { r, cpuMsPerTx } = await measured(db, () => runPgbench({ url: db.url, script, clients: o.clients, seconds: o.seconds, signal: interrupt.signal }));
    let atRate: PgbenchBaseline['atRate'] = null;
    if (o.rate) {
      const rate = o.rate;
      const x = await measured(db, () => runPgbench({ url: db.url, script, clients: o.clients, seconds: o.seconds, rate, latencies: true, signal: interrupt.signal }));
      atRate = { rate, seconds: o.seconds, tps: x.r.tps, transactions: x.r.transactions, postgresCpuMsPerTx: x.cpuMsPerTx, latency: x.r.latency };
    }
    // Not logged at saturation: writing the log would cost pgbench's clients more than the commits.
    const saturated = { tps: r.tps, latencyMs: r.latencyMs, transactions: r.transactions, failed: r.failed };
    return {
      script: 'rt_draft_create',
      settings: 'fsync=on, synchronous_commit=on, full_page_writes=on (defaults otherwise)',
      clients: o.clients,
      seconds: o.seconds,
      ...saturated,
      postgresCpuMsPerTx: cpuMsPerTx,
      atRate,
    };
  } finally {
    db.stop();
  }
}

export const describePgbench = (p: PgbenchBaseline): string =>
  `pgbench -n -c ${p.clients} -M prepared, ${p.script}, ${p.seconds} s, ${p.settings}: ${p.tps.toFixed(0)} tps, latency avg ${p.latencyMs} ms, ${p.transactions} transactions (${p.failed} failed); PostgreSQL CPU ${p.postgresCpuMsPerTx?.toFixed(3) ?? '-'} ms per transaction` +
  (p.atRate ? `; at -R ${p.atRate.rate}: ${p.atRate.tps.toFixed(0)} tps, PostgreSQL CPU ${p.atRate.postgresCpuMsPerTx?.toFixed(3) ?? '-'} ms per transaction${p.atRate.latency ? `, latency from the scheduled start p50 ${p.atRate.latency.p50} p99 ${p.atRate.latency.p99} p99.9 ${p.atRate.latency.p999} ms` : ''}` : '');

if (isMain(import.meta.url)) {
  const interrupt = handleInterrupts();
  runMain('pgbench-baseline', async () => {
    const { values } = parseArgs({ options: { seconds: { type: 'string', default: '15' }, clients: { type: 'string', default: '8' }, rate: { type: 'string', default: '300' } } });
    const r = await runPgbenchBaseline({ seconds: Number(values.seconds), clients: Number(values.clients), rate: Number(values.rate) || undefined }, interrupt);
    console.log(describePgbench(r));
    console.log(`results: ${writeResult('pgbench-baseline', r)}`);
  }, interrupt);
}
