/**
 * The service's highest write rate with delivery p99 < 100 ms: a ladder of `rtctl latency` runs
 * (100 users × 3 devices, 15 s measured after a 5 s warm-up, the default write mix), a fresh stack
 * per step (lib/stack.ts: the built service, on a throwaway PostgreSQL with fsync on, or embedded
 * PGlite with or without PGLITE_WORKER). A step passes with p99 < 100 ms and every correctness
 * counter 0 (missing, duplicates, out-of-order, cross-user, unexpected, resyncs, failed writes);
 * the ladder stops at the first failing step and the ceiling is the last passing rate.
 *
 *   npx tsx loadtest/write-ceiling.ts [--mode postgres|embedded|embedded-worker] [--rates 200,400,600]
 *                                     [--users 100] [--devices 3] [--duration 15] [--warmup 5] [--mix create=1]
 */
import { parseArgs } from 'node:util';
import { ensureBuilt } from './lib/build.js';
import { isMain, runMain, writeResult } from './lib/cli.js';
import { handleInterrupts, type Interrupt } from './lib/interrupt.js';
import { describeRun, runLatency, type LatencyRun } from './lib/latency-run.js';
import { startStack, STORAGE_LABEL, type StorageMode } from './lib/stack.js';

export interface CeilingOptions {
  mode: StorageMode;
  rates: number[];
  users: number;
  devices: number;
  durationS: number;
  warmupS: number;
  /** rtctl's --mix; default rtctl's own. */
  mix?: string;
}

export interface CeilingReport {
  mode: StorageMode;
  storage: string;
  options: CeilingOptions;
  steps: LatencyRun[];
  /** The last passing rate, 0 when the first step failed. */
  ceiling: number;
  /** Every step passed: the real ceiling is above the last rate. */
  passedAll: boolean;
  /** The longest event-loop stall of the service at the ceiling step, ms. */
  stallAtCeilingMs: number | null;
  /** The longest stall over every passing step, ms. */
  longestStallMs: number | null;
}

/** One fixed-rate run on a fresh stack (also used for the e2e figures). */
export async function runOnFreshStack(
  mode: StorageMode,
  o: { rate: number; users: number; devices: number; durationS: number; warmupS: number; mix?: string },
  interrupt: Interrupt,
  /** Node options of the service and of rtctl (e.g. `--cpu-prof`, profile-write.ts). */
  nodeArgs: { service?: string[]; harness?: string[] } = {},
): Promise<LatencyRun> {
  const stack = await startStack(mode, interrupt, {}, nodeArgs.service);
  try {
    const db = stack.db;
    return await runLatency(
      { ...o, url: stack.url, servicePid: stack.service.proc.pid!, postgresPid: db ? () => db.postmasterPid() : undefined, harnessNodeArgs: nodeArgs.harness },
      interrupt,
    );
  } finally {
    await stack.stop();
  }
}

export async function runCeiling(o: CeilingOptions, interrupt: Interrupt, log: (line: string) => void = console.log): Promise<CeilingReport> {
  const steps: LatencyRun[] = [];
  let ceiling = 0;
  for (const rate of o.rates) {
    const run = await runOnFreshStack(o.mode, { ...o, rate }, interrupt);
    steps.push(run);
    log(`  ${o.mode} step ${describeRun(run)}`);
    if (run.firstFailure) log(`    first failed write: ${run.firstFailure}`);
    if (!run.passed) break;
    ceiling = rate;
  }
  const passing = steps.filter((s) => s.passed);
  const stalls = passing.map((s) => s.serviceStallMs).filter((v): v is number => v !== null);
  return {
    mode: o.mode,
    storage: STORAGE_LABEL[o.mode],
    options: o,
    steps,
    ceiling,
    passedAll: passing.length === o.rates.length,
    stallAtCeilingMs: passing.at(-1)?.serviceStallMs ?? null,
    longestStallMs: stalls.length ? Math.max(...stalls) : null,
  };
}

export function describeCeiling(c: CeilingReport): string {
  const what = c.ceiling === 0 ? `below ${c.options.rates[0]}/s (the first step failed)` : c.passedAll ? `≥ ${c.ceiling}/s (every step passed)` : `${c.ceiling}/s`;
  const stall = c.ceiling === 0 ? '' : `; service event-loop stall at that step ${c.stallAtCeilingMs?.toFixed(1) ?? '-'} ms (longest over passing steps ${c.longestStallMs?.toFixed(1) ?? '-'} ms)`;
  return `${c.storage}: highest rate with delivery p99 < 100 ms and counters 0: ${what}${stall}`;
}

if (isMain(import.meta.url)) {
  const interrupt = handleInterrupts();
  runMain('write-ceiling', async () => {
    const { values } = parseArgs({
      options: {
        mode: { type: 'string', default: 'postgres' },
        rates: { type: 'string', default: '300,400,500,650,800,1000,1200,1500,1800,2200' },
        users: { type: 'string', default: '100' },
        devices: { type: 'string', default: '3' },
        duration: { type: 'string', default: '15' },
        warmup: { type: 'string', default: '5' },
        mix: { type: 'string' },
      },
    });
    const mode = values.mode as StorageMode;
    if (!(mode in STORAGE_LABEL)) throw new Error(`--mode: one of ${Object.keys(STORAGE_LABEL).join(', ')}`);
    ensureBuilt();
    const c = await runCeiling(
      { mode, rates: values.rates.split(',').map(Number), users: Number(values.users), devices: Number(values.devices), durationS: Number(values.duration), warmupS: Number(values.warmup), mix: values.mix },
      interrupt,
    );
    console.log(describeCeiling(c));
    console.log(`results: ${writeResult(`write-ceiling-${mode}`, c)}`);
  }, interrupt);
}
