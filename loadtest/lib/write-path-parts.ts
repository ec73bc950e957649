/**
 * The write-path parts of `npm run bench`, their sizes (full and `--quick`) and the order they run
 * in. Each part is a scenario module of its own (pgbench-baseline, write-ceiling, e2e-delivery,
 * fair-peer); this only sizes and sequences them.
 *
 * Bounds (full run, worst case, every ladder step reached): pgbench 15 s; the PostgreSQL ladder
 * 10 steps and each embedded ladder 9 steps of ~30 s (fresh stack, 5 s warm-up, 15 s measured,
 * drain); e2e 3 runs of ~45 s (100 and 1,000 users, then draft creates only); the fair peer 3 targets × (15 s + ≤ 5 steps of 5 s). About 18 min at
 * most; a ladder stops at its first failing step, so usually much less.
 */
import { describeCeiling, runCeiling, type CeilingReport } from '../write-ceiling.js';
import { runE2e } from '../e2e-delivery.js';
import { describeEmbeddedStart, RSS_AFTER_READY_MS, runEmbeddedStart } from '../embedded-start.js';
import { printFairPeer, runFairPeer } from '../fair-peer.js';
import { describePgbench, runPgbenchBaseline } from '../pgbench-baseline.js';
import type { Interrupt } from './interrupt.js';
import type { StorageMode } from './stack.js';
import type { WritePathReport } from './write-path-targets.js';

export const WRITE_PATH_PARTS = ['pgbench', 'ceiling', 'e2e', 'embedded', 'fair-peer'] as const;
export type WritePathPart = (typeof WRITE_PATH_PARTS)[number];

export function writePathSizes(quick: boolean, mix?: string) {
  const ladder = (rates: number[]) => ({ users: quick ? 20 : 100, devices: 3, durationS: quick ? 3 : 15, warmupS: quick ? 1 : 5, rates: quick ? [100, 200] : rates, mix });
  return {
    pgbench: { seconds: quick ? 3 : 15, clients: 8, rate: quick ? 100 : 300 }, // rate: the e2e run's
    ceiling: ladder([300, 400, 500, 650, 800, 1000, 1200, 1500, 1800, 2200]),
    embedded: ladder([200, 300, 400, 500, 650, 800, 1000, 1200, 1500]),
    embeddedStarts: quick ? 1 : 3,
    e2e: { rate: quick ? 100 : 300, users: quick ? [20, 200] : [100, 1000], devices: 3, durationS: quick ? 5 : 30, warmupS: quick ? 1 : 5, mix, likePgbench: true },
    fairPeer: quick
      ? { users: 10, devices: 2, rate: 50, seconds: 3, steps: [100], stepSeconds: 2 }
      : { users: 100, devices: 3, rate: 300, seconds: 15, steps: [300, 600, 900, 1200, 1600], stepSeconds: 5 },
  };
}

export async function runWritePath(
  parts: ReadonlySet<string>,
  o: { quick: boolean; mix?: string },
  interrupt: Interrupt,
  log: (line: string) => void = console.log,
): Promise<WritePathReport> {
  const size = writePathSizes(o.quick, o.mix);
  const r: WritePathReport = { pgbench: null, ceiling: null, embedded: [], embeddedStart: null, e2e: null, fairPeer: null };
  const ladder = async (mode: StorageMode, s: typeof size.ceiling): Promise<CeilingReport> => {
    const c = await runCeiling({ mode, ...s }, interrupt, log);
    log(`  ${describeCeiling(c)}`);
    return c;
  };
  if (parts.has('pgbench')) {
    log('\n== pgbench: the service\'s draft-create SQL on PostgreSQL alone (fsync on)');
    r.pgbench = await runPgbenchBaseline(size.pgbench, interrupt);
    log(`  ${describePgbench(r.pgbench)}`);
  }
  if (parts.has('ceiling')) {
    log(`\n== Service ceiling on PostgreSQL (fsync on): rtctl latency ladder ${size.ceiling.rates.join(', ')}/s, ${size.ceiling.users}×${size.ceiling.devices}, a fresh service and database per step`);
    r.ceiling = await ladder('postgres', size.ceiling);
    if (r.pgbench) log(`  ceiling / pgbench tps = ${r.ceiling.ceiling} / ${r.pgbench.tps.toFixed(0)} = ${(r.ceiling.ceiling / r.pgbench.tps).toFixed(2)}`);
  }
  if (parts.has('e2e')) {
    log(`\n== e2e delivery at ${size.e2e.rate} writes/s on PostgreSQL (fsync on), ${size.e2e.users.map((u) => `${u}×${size.e2e.devices}`).join(' and ')}; CPU per write`);
    r.e2e = await runE2e(size.e2e, interrupt, log);
  }
  if (parts.has('embedded')) {
    log(`\n== Embedded start: the built service with its defaults (PGLITE_WORKER=1, no DATA_DIR), ${size.embeddedStarts} start(s), RSS ${RSS_AFTER_READY_MS / 1000} s after ready`);
    r.embeddedStart = await runEmbeddedStart({ starts: size.embeddedStarts }, interrupt);
    log(`  ${describeEmbeddedStart(r.embeddedStart)}`);
    for (const mode of ['embedded', 'embedded-worker'] as const) {
      log(`\n== Embedded ceiling (${mode === 'embedded' ? 'PGlite on the main thread' : 'PGLITE_WORKER=1'}): ladder ${size.embedded.rates.join(', ')}/s`);
      r.embedded.push(await ladder(mode, size.embedded));
    }
  }
  if (parts.has('fair-peer')) {
    log('\n== Fair peer: archibald-realtime, Socket.IO + PostgreSQL (same transaction), Socket.IO without a database');
    r.fairPeer = await runFairPeer(size.fairPeer, interrupt, log);
    printFairPeer(r.fairPeer, log);
  }
  return r;
}
