/**
 * `rtctl latency`: the multi-device latency gate (DESIGN §8). Runs the engine, shows a live Ink view
 * in a terminal (progress lines on stderr otherwise), then writes the report (JSON, JUnit, HDR
 * histogram log) and returns the gate's exit code: 0 pass, 99 a threshold missed, 4 correctness,
 * 3 could not run, 2 usage, 130 interrupted (the partial report is still written).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { render } from 'ink';
import { useEffect, useState } from 'react';
import type { Context } from '../context.js';
import { LatencyEngine, type LiveSnapshot } from '../latency/engine.js';
import { LatencyView } from '../latency/LatencyView.js';
import { parseLatencyOptions, type LatencyOptions } from '../latency/options.js';
import { buildReport, reportJunit, reportText, type LatencyReport } from '../latency/report.js';
import { histogramLog } from '../latency/stats.js';
import { tokenSource } from '../latency/tokens.js';

export type { LatencyOptions };

function writeFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

function Live({ engine, title, color }: { engine: LatencyEngine; title: string; color: boolean }) {
  const [snap, setSnap] = useState<LiveSnapshot>(() => engine.snapshot());
  useEffect(() => {
    // Twice a second: each Ink render costs the harness event-loop time, which the report accounts as its own delay.
    const t = setInterval(() => setSnap(engine.snapshot()), 500);
    return () => clearInterval(t);
  }, [engine]);
  return <LatencyView snap={snap} color={color} title={title} />;
}

function progressLine(s: LiveSnapshot): string {
  const f = (v: number | null) => (v === null ? '-' : v.toFixed(1));
  return `-- ${s.phase} ${s.sent}/${s.total} writes, ${s.rate}/s; last 5 s p50 ${f(s.rolling.p50)} p99 ${f(s.rolling.p99)} ms; missing ${s.missing} dup ${s.duplicates} ooo ${s.outOfOrder} cross ${s.crossUser} failed ${s.failedWrites}`;
}

/** Write the report files asked for; a file that cannot be written is reported, not fatal to the verdict. */
export function writeOutputs(ctx: Context, report: LatencyReport, opts: { out: string | null; junit: string | null; hdr: string | null }, histogram: () => string): void {
  const attempt = (what: string, path: string | null, text: () => string) => {
    if (!path) return;
    try {
      writeFile(path, text());
    } catch (err) {
      ctx.err(`rtctl: could not write the ${what} to ${path}: ${(err as Error).message}`);
    }
  };
  attempt('JSON report', opts.out, () => `${JSON.stringify(report, null, 2)}\n`);
  attempt('JUnit report', opts.junit, () => reportJunit(report));
  attempt('HDR histogram', opts.hdr, histogram);
}

export async function runLatency(ctx: Context, opts: LatencyOptions): Promise<number> {
  const config = parseLatencyOptions(opts);
  const tokens = tokenSource({ secret: opts.secret, dev: opts.dev, tokenCmd: opts.tokenCmd, env: ctx.io.env, warn: (l) => ctx.err(l) });
  const engine = new LatencyEngine({ config, urls: ctx.urls, tokens, log: ctx.interactive ? undefined : (l) => ctx.err(`-- ${l}`) });
  ctx.onInterrupt(() => engine.stop());

  const title = `rtctl latency  run ${config.runId}  ${config.users} user(s) x ${config.devices} device(s)  ${config.rate} writes/s  ${ctx.urls.join(', ')}`;
  let result;
  if (ctx.interactive) {
    const app = render(<Live engine={engine} title={title} color={ctx.color} />, {
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
    const ticker = setInterval(() => ctx.err(progressLine(engine.snapshot())), 5_000);
    try {
      result = await engine.run();
    } finally {
      clearInterval(ticker);
    }
  }

  const report = buildReport(result);
  writeOutputs(ctx, report, config, () => {
    const start = result.startedAt.getTime();
    const end = result.finishedAt.getTime();
    const t = result.tracker;
    return histogramLog(
      [{ tag: 'delivery', histogram: t.delivery }, { tag: 'rest', histogram: t.rest }, ...[...t.byType].map(([tag, histogram]) => ({ tag, histogram }))],
      start,
      end,
    );
  });
  if (ctx.json) ctx.out(JSON.stringify(report));
  else ctx.out(reportText(report, ctx.color));
  return report.exitCode;
}
