/**
 * End-to-end delivery at a fixed rate on the production shape (the built service on a throwaway
 * PostgreSQL with fsync on): `rtctl latency` at 300 writes/s with 100 users × 3 devices, then with
 * 1,000 users × 3 devices (same rate, ten times the sockets and users), each on a fresh stack.
 * The 100-user run also gives the CPU per write of the service, of PostgreSQL (every postgres
 * process) and of the harness (rtctl), over its measured phase. With --like-pgbench, one more run
 * of the first user count with draft creates only (`--mix create=1`): the write pgbench runs
 * (pgbench-baseline.ts), so PostgreSQL's CPU per write compares like with like.
 *
 *   npx tsx loadtest/e2e-delivery.ts [--rate 300] [--users 100,1000] [--devices 3] [--duration 30] [--warmup 5] [--mix create=1] [--like-pgbench]
 */
import { parseArgs } from 'node:util';
import { ensureBuilt } from './lib/build.js';
import { isMain, runMain, writeResult } from './lib/cli.js';
import { handleInterrupts, type Interrupt } from './lib/interrupt.js';
import { describeRun, type LatencyRun } from './lib/latency-run.js';
import { runOnFreshStack } from './write-ceiling.js';

export interface E2eOptions {
  rate: number;
  users: number[];
  devices: number;
  durationS: number;
  warmupS: number;
  mix?: string;
  /** One more run (the first user count) of draft creates only, pgbench's write. */
  likePgbench?: boolean;
}

/** rtctl's mix of pgbench's transaction: draft creates only. */
export const PGBENCH_MIX = 'create=1';

export interface E2eReport {
  options: E2eOptions;
  storage: string;
  runs: LatencyRun[];
  /** The draft-creates-only run (likePgbench), null when not run. */
  createOnly: LatencyRun | null;
}

export async function runE2e(o: E2eOptions, interrupt: Interrupt, log: (line: string) => void = console.log): Promise<E2eReport> {
  const runs: LatencyRun[] = [];
  for (const users of o.users) {
    const run = await runOnFreshStack('postgres', { ...o, users }, interrupt);
    log(`  e2e ${describeRun(run)}`);
    if (run.firstFailure) log(`    first failed write: ${run.firstFailure}`);
    runs.push(run);
  }
  let createOnly: LatencyRun | null = null;
  if (o.likePgbench) {
    createOnly = await runOnFreshStack('postgres', { ...o, users: o.users[0]!, mix: PGBENCH_MIX }, interrupt);
    log(`  e2e --mix ${PGBENCH_MIX} (pgbench's write) ${describeRun(createOnly)}`);
    if (createOnly.firstFailure) log(`    first failed write: ${createOnly.firstFailure}`);
  }
  return { options: o, storage: 'PostgreSQL 15, fsync on', runs, createOnly };
}

if (isMain(import.meta.url)) {
  const interrupt = handleInterrupts();
  runMain('e2e-delivery', async () => {
    const { values } = parseArgs({
      options: {
        rate: { type: 'string', default: '300' },
        users: { type: 'string', default: '100,1000' },
        devices: { type: 'string', default: '3' },
        duration: { type: 'string', default: '30' },
        warmup: { type: 'string', default: '5' },
        mix: { type: 'string' },
        'like-pgbench': { type: 'boolean', default: false },
      },
    });
    ensureBuilt();
    const r = await runE2e(
      { rate: Number(values.rate), users: values.users.split(',').map(Number), devices: Number(values.devices), durationS: Number(values.duration), warmupS: Number(values.warmup), mix: values.mix, likePgbench: values['like-pgbench'] },
      interrupt,
    );
    console.log(`results: ${writeResult('e2e-delivery', r)}`);
  }, interrupt);
}
