/**
 * What the embedded service costs when it starts: the built service (`node dist/service/src/main.js`)
 * with its defaults (PGlite in a worker thread, no DATA_DIR, so a fresh folder copied from the
 * migrated template), started `--starts` times one after another. For each start: the time to
 * /readyz from the spawn, and the process's RSS (VmRSS) 2 s after ready, when the start-up's JIT
 * work has settled. The target is RSS ≤ 250 MB; the verdict takes the largest start.
 *
 *   npx tsx loadtest/embedded-start.ts [--starts 5]
 */
import { parseArgs } from 'node:util';
import { ensureBuilt } from './lib/build.js';
import { isMain, runMain, writeResult } from './lib/cli.js';
import { handleInterrupts, type Interrupt } from './lib/interrupt.js';
import { rssKb } from './lib/proc.js';
import { BENCH_SERVICE_ENV } from './lib/stack.js';
import { percentileOf } from './lib/stats.js';
import { spawnService } from '../tools/service-process.js';

export interface EmbeddedStartReport {
  starts: { readyMs: number; rssMb: number | null }[];
  rssMb: { median: number | null; min: number | null; max: number | null };
  readyMs: { median: number | null; min: number | null; max: number | null };
}

/** How long after ready the RSS is read. */
export const RSS_AFTER_READY_MS = 2_000;

export async function runEmbeddedStart(o: { starts: number }, interrupt: Interrupt): Promise<EmbeddedStartReport> {
  const starts: EmbeddedStartReport['starts'] = [];
  for (let i = 0; i < o.starts; i += 1) {
    interrupt.check();
    const t0 = performance.now();
    const svc = await spawnService({ ...BENCH_SERVICE_ENV, PGLITE_WORKER: '1' }, `bench-start-${i}`, { built: true, root: process.env.BENCH_SERVICE_ROOT || undefined });
    const readyMs = Math.round(performance.now() - t0);
    try {
      await new Promise((r) => setTimeout(r, RSS_AFTER_READY_MS));
      const kb = svc.proc.pid === undefined ? null : rssKb(svc.proc.pid);
      starts.push({ readyMs, rssMb: kb === null ? null : Math.round(kb / 102.4) / 10 });
    } finally {
      await svc.kill('SIGTERM');
    }
  }
  const spread = (xs: number[]) => (xs.length ? { median: percentileOf(xs, 50), min: Math.min(...xs), max: Math.max(...xs) } : { median: null, min: null, max: null });
  return {
    starts,
    rssMb: spread(starts.flatMap((s) => (s.rssMb === null ? [] : [s.rssMb]))),
    readyMs: spread(starts.map((s) => s.readyMs)),
  };
}

export function describeEmbeddedStart(r: EmbeddedStartReport): string {
  const { rssMb: m, readyMs: t } = r;
  return `${r.starts.length} start(s): RSS ${RSS_AFTER_READY_MS / 1000} s after ready median ${m.median ?? '-'} MB (${m.min ?? '-'}–${m.max ?? '-'}); ready in ${t.median ?? '-'} ms (${t.min ?? '-'}–${t.max ?? '-'})`;
}

async function main(interrupt: Interrupt): Promise<void> {
  const { values } = parseArgs({ options: { starts: { type: 'string', default: '5' } } });
  const starts = Number(values.starts);
  if (!Number.isInteger(starts) || starts < 1) throw new Error(`--starts: a whole number ≥ 1, not '${values.starts}'`);
  ensureBuilt();
  const r = await runEmbeddedStart({ starts }, interrupt);
  console.log(describeEmbeddedStart(r));
  console.log(`results: ${writeResult('embedded-start', r)}`);
}

if (isMain(import.meta.url)) {
  const interrupt = handleInterrupts();
  runMain('embedded-start', () => main(interrupt), interrupt);
}
