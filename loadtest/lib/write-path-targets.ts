/**
 * The write-path issue's targets, checked against the bench's figures: met, not met, or not
 * measured (the part did not run, or a figure is missing). Pure: the report and the console print
 * what this returns.
 */
import type { CeilingReport } from '../write-ceiling.js';
import type { E2eReport } from '../e2e-delivery.js';
import type { EmbeddedStartReport } from '../embedded-start.js';
import type { FairPeerReport } from '../fair-peer.js';
import type { PgbenchBaseline } from '../pgbench-baseline.js';

export interface WritePathReport {
  pgbench: PgbenchBaseline | null;
  /** The service on PostgreSQL with fsync on. */
  ceiling: CeilingReport | null;
  /** Embedded PGlite: main thread, then PGLITE_WORKER=1 (those that ran). */
  embedded: CeilingReport[];
  /** The built embedded service's RSS after start (part `embedded`; null when it did not run). */
  embeddedStart: EmbeddedStartReport | null;
  e2e: E2eReport | null;
  fairPeer: FairPeerReport | null;
}

export interface TargetCheck {
  target: string;
  figure: string;
  /** null: not measured. */
  met: boolean | null;
}

const n = (v: number | null | undefined, d = 1) => (v === null || v === undefined ? 'n/a' : v.toFixed(d));

export function checkTargets(r: WritePathReport): TargetCheck[] {
  const out: TargetCheck[] = [];
  const add = (target: string, figure: string, met: boolean | null) => out.push({ target, figure, met });
  const c = r.ceiling;
  const capped = (x: CeilingReport) => (x.passedAll ? ` (every step passed: ≥ ${x.ceiling})` : '');
  const rate = (x: CeilingReport) => (x.ceiling === 0 ? `< ${x.options.rates[0]} writes/s (the first step failed)` : `${x.ceiling} writes/s${capped(x)}`);
  add('service on PostgreSQL (fsync on) ≥ 1,200 durable writes/s with delivery p99 < 100 ms, counters 0', c ? rate(c) : 'not measured', c ? c.ceiling >= 1200 : null);
  const tps = r.pgbench?.tps ?? null;
  const ratio = c && tps ? c.ceiling / tps : null;
  add('service ceiling ≥ 0.5 × pgbench tps (rt_draft_create, -c 8, fsync on)', c && tps ? `${c.ceiling} / ${tps.toFixed(0)} tps = ${ratio!.toFixed(2)}` : 'not measured', ratio === null ? null : ratio >= 0.5);
  const e = r.e2e?.runs.find((x) => x.users === 100) ?? r.e2e?.runs[0] ?? null;
  const clean = e ? Object.values(e.correctness).every((v) => v === 0) && e.delivery.count > 0 : false;
  const at = e ? ` at ${e.rate}/s, ${e.users}×${e.devices}${clean ? '' : ', correctness counters NOT 0'}` : '';
  // The database's own commit latency at the same rate, from pgbench's log: the floor under the e2e figures.
  const tx = r.pgbench?.atRate?.latency ?? null;
  const floor = (q: 'p50' | 'p99') => (tx ? `; pgbench's transaction alone at -R ${r.pgbench!.atRate!.rate}: ${tx[q]} ms` : '');
  add('e2e delivery p50 ≤ 3 ms at 300 writes/s (100 users × 3 devices)', e ? `${n(e.delivery.p50, 2)} ms${at}${floor('p50')}` : 'not measured', e && e.delivery.p50 !== null ? clean && e.delivery.p50 <= 3 : null);
  add('e2e delivery p99 ≤ 15 ms at 300 writes/s', e ? `${n(e.delivery.p99, 2)} ms${at}${floor('p99')}` : 'not measured', e && e.delivery.p99 !== null ? clean && e.delivery.p99 <= 15 : null);
  for (const x of r.embedded) {
    const stall = x.stallAtCeilingMs;
    add(
      `embedded (${x.storage}) ≥ 800 writes/s with p99 < 100 ms and no event-loop stall over 100 ms`,
      x.ceiling === 0 ? `< ${x.options.rates[0]} writes/s (the first step failed)` : `${x.ceiling} writes/s${capped(x)}, longest service stall at that rate ${n(stall)} ms`,
      x.ceiling === 0 ? false : stall === null ? null : x.ceiling >= 800 && stall <= 100,
    );
  }
  if (r.embedded.length === 0) add('embedded ≥ 800 writes/s with p99 < 100 ms and no event-loop stall over 100 ms', 'not measured', null);
  const st = r.embeddedStart;
  add(
    'embedded (PGLITE_WORKER=1, no DATA_DIR) RSS ≤ 250 MB at start (2 s after ready, every start)',
    st && st.rssMb.max !== null ? `median ${n(st.rssMb.median)} MB, ${n(st.rssMb.min)}–${n(st.rssMb.max)} over ${st.starts.length} start(s)` : 'not measured',
    st && st.rssMb.max !== null ? st.rssMb.max <= 250 : null,
  );
  const cpu = e?.cpuMsPerWrite ?? null;
  add('rtctl (the harness) CPU ≤ 0.3 ms per write at 300 writes/s', cpu ? `${n(cpu.harness, 3)} ms/write` : 'not measured', cpu?.harness == null ? null : cpu.harness <= 0.3);
  add('service CPU ≤ 0.35 ms per write at 300 writes/s', cpu ? `${n(cpu.service, 3)} ms/write` : 'not measured', cpu?.service == null ? null : cpu.service <= 0.35);
  // Like with like: the service's draft creates only (rtctl --mix create=1) against pgbench running
  // the same rt_draft_create at the same rate (-R); saturated, one WAL flush serves several commits
  // and no backend sleeps between them, which no fixed rate of commits one at a time can match.
  const pgTx = r.pgbench?.postgresCpuMsPerTx ?? null;
  const atRate = r.pgbench?.atRate ?? null;
  const co = r.e2e?.createOnly ?? null;
  const likeForLike = co?.cpuMsPerWrite.postgres != null && atRate?.postgresCpuMsPerTx != null && co.rate === atRate.rate;
  const parts = [
    ...(co ? [`draft creates (--mix create=1) ${n(co.cpuMsPerWrite.postgres, 3)} ms/write at ${co.rate}/s`] : []),
    ...(cpu ? [`default mix ${n(cpu.postgres, 3)} ms/write`] : []),
    ...(atRate ? [`pgbench rt_draft_create ${n(atRate.postgresCpuMsPerTx, 3)} ms/transaction at -R ${atRate.rate}`] : []),
    ...(pgTx !== null ? [`${n(pgTx, 3)} saturated`] : []),
  ];
  add(
    'PostgreSQL CPU per write ≤ PostgreSQL CPU per pgbench transaction (the same draft create at the same rate)',
    parts.length ? parts.join('; ') : 'not measured',
    likeForLike ? co!.cpuMsPerWrite.postgres! <= atRate!.postgresCpuMsPerTx! : cpu?.postgres == null || pgTx === null ? null : cpu.postgres <= pgTx,
  );
  return out;
}

export const verdict = (t: TargetCheck): string => (t.met === null ? 'not measured' : t.met ? 'met' : 'NOT met');
