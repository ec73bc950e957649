/**
 * `rtctl latency`: the multi-device latency gate (DESIGN §8). Runs the engine, shows a live Ink view
 * in a terminal (progress lines on stderr otherwise), then writes the report (JSON, JUnit, HDR
 * histogram log) and returns the gate's exit code: 0 pass, 99 a threshold missed, 4 correctness,
 * 3 could not run, 2 usage, 130 interrupted (the partial report is still written).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command, Option } from 'commander';
import type { Context } from '../context.js';
import type { LiveSnapshot } from '../latency/engine.js';
import { DEFAULT_MIX, parseLatencyOptions, type LatencyOptions } from '../latency/options.js';
import type { LatencyReport } from '../latency/report.js';
import { tokenSource } from '../latency/tokens.js';
import { pollEvery } from '../poll.js';
import { collect, type CommandKit } from './command.js';

export type { LatencyOptions };

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

function writeFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

function progressLine(s: LiveSnapshot): string {
  const f = (v: number | null) => (v === null ? '-' : v.toFixed(1));
  return `-- ${s.phase} ${s.sent}/${s.total} writes, ${s.rate}/s; last 5 s p50 ${f(s.rolling.p50)} p99 ${f(s.rolling.p99)} ms; missing ${s.missing} dup ${s.duplicates} ooo ${s.outOfOrder} cross ${s.crossUser} failed ${s.failedWrites}`;
}

/** Write the report files asked for; a file that cannot be written is reported, not fatal to the verdict. */
function writeOutputs(
  ctx: Context,
  report: LatencyReport,
  opts: { out: string | null; junit: string | null; hdr: string | null },
  texts: { junit: () => string; histogram: () => string },
): void {
  const attempt = (what: string, path: string | null, text: () => string) => {
    if (!path) return;
    try {
      writeFile(path, text());
    } catch (err) {
      ctx.err(`rtctl: could not write the ${what} to ${path}: ${(err as Error).message}`);
    }
  };
  attempt('JSON report', opts.out, () => `${JSON.stringify(report, null, 2)}\n`);
  attempt('JUnit report', opts.junit, texts.junit);
  attempt('HDR histogram', opts.hdr, texts.histogram);
}

export async function runLatency(ctx: Context, opts: LatencyOptions): Promise<number> {
  const config = parseLatencyOptions(opts);
  // The engine and its histograms are loaded when the gate runs, not for every rtctl command.
  const [{ LatencyEngine }, { buildReport, reportJunit, reportText }, { histogramLog }] = await Promise.all([
    import('../latency/engine.js'),
    import('../latency/report.js'),
    import('../latency/stats.js'),
  ]);
  const tokens = tokenSource({ secret: opts.secret, dev: opts.dev, tokenCmd: opts.tokenCmd, env: ctx.io.env, warn: (l) => ctx.err(l) });
  const engine = new LatencyEngine({ config, urls: ctx.urls, tokens, log: ctx.interactive ? undefined : (l) => ctx.err(`-- ${l}`) });
  ctx.onInterrupt(() => engine.stop());

  const title = `rtctl latency  run ${config.runId}  ${config.users} user(s) x ${config.devices} device(s)  ${config.rate} writes/s  ${ctx.urls.join(', ')}`;
  let result;
  if (ctx.interactive) {
    const [{ render }, { LatencyApp }] = await Promise.all([import('ink'), import('../components/LatencyApp.js')]);
    const app = render(<LatencyApp engine={engine} title={title} color={ctx.color} />, {
      stdout: ctx.io.stdout,
      stdin: ctx.io.stdin,
      stderr: ctx.io.stderr,
      exitOnCtrlC: false,
      patchConsole: false,
    });
    try {
      result = await engine.run();
    } finally {
      app.unmount();
      await app.waitUntilExit();
    }
  } else {
    const stopProgress = pollEvery(async () => engine.snapshot(), 5_000, (r) => r.ok && ctx.err(progressLine(r.value)), { immediate: false });
    try {
      result = await engine.run();
    } finally {
      stopProgress();
    }
  }

  const report = buildReport(result);
  writeOutputs(ctx, report, config, {
    junit: () => reportJunit(report),
    histogram: () => {
      const t = result.tracker;
      return histogramLog(
        [{ tag: 'delivery', histogram: t.delivery }, { tag: 'rest', histogram: t.rest }, ...[...t.byType].map(([tag, histogram]) => ({ tag, histogram }))],
        result.startedAt.getTime(),
        result.finishedAt.getTime(),
      );
    },
  });
  if (ctx.json) ctx.out(JSON.stringify(report));
  else ctx.out(reportText(report, ctx.color));
  return report.exitCode;
}

export function latencyCommand({ ctxOf, run }: CommandKit): Command {
  return new Command('latency')
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
    .action(run((cmd) => runLatency(ctxOf(cmd), cmd.opts<LatencyOptions>())));
}
