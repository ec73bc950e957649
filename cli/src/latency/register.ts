/**
 * Commander registration of `rtctl latency` and `rtctl check`, so cli.tsx adds each with one line:
 *
 *   registerLatency(program, ctxOf, run);
 *   registerCheck(program, ctxOf, run);
 *
 * The commands are imported when run (like the others), so `rtctl token` does not load them.
 */
import { Option, type Command } from 'commander';
import type { Context } from '../context.js';
import { DEFAULT_MIX } from './options.js';

export type CtxOf = (cmd: Command) => Context;
export type Run = (fn: (cmd: Command) => Promise<number>) => (...args: unknown[]) => Promise<void>;

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

export const LATENCY_HELP = `
Measures end-to-end delivery latency like a user feels it: per user, one device writes over REST
and the others observe on /ws/realtime. Writes leave on a fixed schedule (open loop); a write's
latency is the arrival of its events on the SLOWEST observer minus the time it was due, on one
monotonic clock. Correctness is counted in the same run: missing, duplicate, out-of-order and
cross-user events must all be 0 (--max-loss relaxes missing only).

Thresholds (all must hold; default p99<100 on delivery):
  --p99 100  --p50 20  --p999 250  --max 1000       milliseconds, or 'off'
  --threshold 'p99<100'  'p(99.9)<=250ms'  'max<1s'  'rest.p99<200'  'DRAFT_CREATED.p50<20'

Exit codes:
  0    pass
  2    usage error (bad option, no secret and no --token-cmd)
  3    could not run (service unreachable, token refused, devices could not connect)
  4    correctness failure (missing, duplicate, out-of-order, cross-user, failed writes, no samples)
  99   a latency threshold was missed (as k6)
  130  interrupted (Ctrl-C): the partial report is still written

Examples:
  JWT_SECRET=… rtctl latency --users 20 --devices 3 --rate 50 --duration 20s --warmup 5s
  rtctl latency --rate 200 --users 100 --threshold 'p99<100' --threshold 'p(99.9)<250' \\
    --junit results/latency.xml --out results/latency.json --hdr results/latency.hlog
  rtctl latency --token-cmd 'my-idp-token --user "$RT_USER"' --writes 500 --rate 20`;

export function registerLatency(program: Command, ctxOf: CtxOf, run: Run): Command {
  return program
    .command('latency')
    .description('the multi-device latency gate: open-loop writes, delivery latency on every observer, correctness, thresholds (CI: JSON, JUnit)')
    .option('--users <n>', 'synthetic users (ids lat-<run>-<n>)', '10')
    .option('--devices <n>', 'devices per user: one writer, the rest observers (at least 2)', '3')
    .option('--rate <n>', 'writes per second in total, open loop', '20')
    .option('--duration <time>', 'measured phase, after the warm-up (20s, 1m; default 20s)')
    .option('--writes <n>', 'measured phase as a number of writes (instead of --duration)')
    .option('--warmup <time>', 'warm-up before measuring (its writes are checked but not timed)', '5s')
    .option('--drain <time>', 'after the last write, wait this long for stragglers before counting them missing (unanswered writes fail)', '10s')
    .option('--mix <weights>', `write mix: ${DEFAULT_MIX}`, DEFAULT_MIX)
    .option('--batch-max <n>', 'largest pending batch upsert (orders), 1 to 500', '100')
    .option('--p50 <ms>', 'threshold on delivery p50')
    .option('--p90 <ms>', 'threshold on delivery p90')
    .option('--p99 <ms>', 'threshold on delivery p99 (default 100; off to drop it)')
    .option('--p999 <ms>', 'threshold on delivery p99.9')
    .option('--max <ms>', 'threshold on the delivery maximum')
    .option('--threshold <expr>', "k6-like threshold, repeatable: 'p99<100', 'rest.p99<200', 'DRAFT_CREATED.p50<20'", collect)
    .option('--max-loss <fraction>', 'missing deliveries allowed: 0, 0.001 or 0.1%', '0')
    .option('--out <file>', 'write the full JSON report here')
    .option('--junit <file>', 'write JUnit XML here (one test case per threshold and per correctness check)')
    .option('--hdr <file>', 'write the HdrHistogram log here (delivery, rest and per event type; mergeable)')
    .option('--secret <secret>', "HS256 secret to mint the synthetic users' tokens (default: JWT_SECRET)")
    .option('--dev', "use the service's built-in development secret when JWT_SECRET is unset")
    .option('--token-cmd <command>', 'shell command printing a token for the user id in $RT_USER (instead of a secret)')
    .addOption(new Option('--run-id <id>', 'run id in the synthetic user ids (default: random)').hideHelp())
    .option('--no-cleanup', 'keep the drafts and pending orders written (default: delete them at the end)')
    .addHelpText('after', LATENCY_HELP)
    .action(run(async (cmd) => (await import('../commands/latency.js')).runLatency(ctxOf(cmd), cmd.opts())));
}

export const CHECK_HELP = `
Built-in scenarios (rtctl check --list): reconnect-replay, batch-aggregation, convert-flow,
isolation, token-expiry, resync, graceful-restart (needs --restart-cmd), job-lifecycle.
A file (JSON or YAML) describes devices, steps and expectations: see cli/LATENCY.md and
cli/examples/check-scenario.yaml.

Exit codes:
  0    every scenario passed (skipped ones do not fail the run)
  2    usage error (unknown scenario, bad file, no secret)
  3    could not run (service unreachable, token refused)
  4    a scenario failed (wrong events, order, count, or too late)
  5    nothing ran: every selected scenario was skipped (e.g. graceful-restart without --restart-cmd)
  130  interrupted

Examples:
  JWT_SECRET=… rtctl check --all --junit results/checks.xml
  rtctl check batch-aggregation --json
  rtctl check graceful-restart --restart-cmd 'kill -TERM $(cat /run/rt.pid)'
  rtctl check ./my-scenario.yaml`;

export function registerCheck(program: Command, ctxOf: CtxOf, run: Run): Command {
  return program
    .command('check')
    .description('scripted multi-device scenarios with exact expectations: built-in ones (--list) or a JSON/YAML file')
    .argument('[scenario...]', 'built-in scenario names or scenario files')
    .option('--all', 'run every built-in scenario')
    .option('--list', 'list the built-in scenarios')
    .option('--junit <file>', 'write JUnit XML here (one test case per scenario)')
    .option('--out <file>', 'write the JSON report here')
    .option('--timeout-scale <factor>', 'multiply every time bound (slow shared machines)', '1')
    .option('--restart-cmd <command>', 'shell command that makes the instance drain and restart (graceful-restart)')
    .option('--secret <secret>', 'HS256 secret to mint tokens (default: JWT_SECRET)')
    .option('--dev', "use the service's built-in development secret when JWT_SECRET is unset")
    .option('--token-cmd <command>', 'shell command printing a token for the user id in $RT_USER (token-expiry needs a secret)')
    .addHelpText('after', CHECK_HELP)
    .action(run(async (cmd) => (await import('../commands/check.js')).runCheck(ctxOf(cmd), cmd.args, cmd.opts())));
}
