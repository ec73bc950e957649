/**
 * `npm run soak`: the chaos scenario (scenario.ts) in cycles of the four faults (kill -9 an instance,
 * kill -9 Redis, restart PostgreSQL alternating `immediate` and `fast`, SIGTERM the other instance)
 * until the observers have received at least `--target` events, then the verdict: events delivered,
 * loss/duplicate/reorder counts, writes retried, time to recover per fault kind (p50/max). Not in
 * CI. Loopback only; bounded by `--max-minutes`; Ctrl-C stops every process it started (twice: now).
 *
 *   npm run soak [-- --users 20 --observers 3 --rate 300 --target 1000000 --max-minutes 15
 *                    --down-ms 1000 --settle-ms 5000 --json]
 *
 * Exit 0 when every guarantee held, 1 when one did not (the findings say which), 130 when interrupted.
 */
import { parseArgs } from 'node:util';
import { handleInterrupts } from '../../loadtest/lib/interrupt.js';
import { removePostgres } from '../postgres-server.js';
import { formatReport, summarizeFaults } from './report.js';
import { runChaos } from './scenario.js';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '20' },
    observers: { type: 'string', default: '3' },
    rate: { type: 'string', default: '300' },
    target: { type: 'string', default: '1000000' },
    'max-minutes': { type: 'string', default: '15' },
    'down-ms': { type: 'string', default: '1000' },
    'settle-ms': { type: 'string', default: '5000' },
    'warmup-ms': { type: 'string', default: '3000' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  process.stdout.write(
    'npm run soak -- [--users N] [--observers N per user] [--rate writes/s] [--target events] [--max-minutes M] [--down-ms MS] [--settle-ms MS] [--warmup-ms MS] [--json]\n',
  );
  process.exit(0);
}

function num(name: keyof typeof values, min: number): number {
  const v = Number(values[name]);
  if (!Number.isFinite(v) || v < min) {
    process.stderr.write(`soak: --${name} must be a number >= ${min} (got ${String(values[name])})\n`);
    process.exit(2);
  }
  return v;
}

const opts = {
  users: num('users', 1),
  observersPerUser: num('observers', 1),
  writesPerSecond: num('rate', 1),
  targetDeliveries: num('target', 1),
  maxDurationMs: num('max-minutes', 1) * 60_000,
  downMs: num('down-ms', 0),
  settleMs: num('settle-ms', 0),
  warmupMs: num('warmup-ms', 0),
};

const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
const interrupt = handleInterrupts(log);
log(
  `soak: ${opts.users} users x ${opts.observersPerUser} observers, ${opts.writesPerSecond} writes/s, ` +
    `until ${opts.targetDeliveries} deliveries (at most ${opts.maxDurationMs / 60_000} min of cycles)`,
);

try {
  const result = await runChaos({
    users: opts.users,
    observersPerUser: opts.observersPerUser,
    writesPerSecond: opts.writesPerSecond,
    warmupMs: opts.warmupMs,
    targetDeliveries: opts.targetDeliveries,
    maxDurationMs: opts.maxDurationMs,
    fault: { downMs: opts.downMs, settleMs: opts.settleMs, recoverTimeoutMs: 60_000, pgMode: 'alternate' },
    drainTimeoutMs: 60_000,
    log,
    progressEveryMs: 10_000,
    signal: interrupt.signal,
    onCluster: (c) => interrupt.onForce(() => removePostgres(c.pg)),
  });
  interrupt.dispose();
  const { verdict } = result;
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ schema: 'archibald-realtime/soak@1', options: opts, ...result, faultSummary: summarizeFaults(result.faults) }, null, 2)}\n`);
  } else {
    process.stdout.write(`${formatReport(verdict, result.faults, result.elapsedMs)}\n`);
    process.stdout.write(`  cycles ${result.cycles}${result.cutShort ? `; cut short: ${result.cutShort}` : ''}\n`);
  }
  if (interrupt.signal.aborted) process.exit(130);
  const reached = verdict.deliveries >= opts.targetDeliveries;
  if (!reached) log(`soak: target not reached (${verdict.deliveries} of ${opts.targetDeliveries} deliveries)`);
  process.exit(verdict.ok && reached ? 0 : 1);
} catch (err) {
  if (interrupt.signal.aborted) {
    log('soak: interrupted; every process it started is stopped');
    process.exit(130);
  }
  log(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
}
