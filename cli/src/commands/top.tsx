/**
 * `rtctl top`: a live dashboard from each instance's /metrics (no token needed). Full-screen Ink in
 * a terminal (q quits); otherwise one line per instance per refresh (NDJSON with --json).
 */
import { render, useApp, useInput, useStdin } from 'ink';
import type { Context } from '../context.js';
import { ExitCode, usageError } from '../errors.js';
import { formatBytes } from '../format.js';
import { TopView } from '../components/TopView.js';
import { useMetrics } from '../hooks/use-metrics.js';
import { createMetricsPoller, type MetricsPoller } from '../metrics-poller.js';
import { formatSeconds, type InstanceView } from '../top-model.js';
import { parseInterval } from './admin.js';

export interface TopOptions {
  interval?: string;
  count?: string;
}

function TopApp({ poller, intervalMs, color }: { poller: MetricsPoller; intervalMs: number; color: boolean }) {
  const { exit } = useApp();
  const { isRawModeSupported } = useStdin();
  useInput((input) => input === 'q' && exit(), { isActive: isRawModeSupported === true });
  const { views, updatedAt } = useMetrics(poller, intervalMs);
  return <TopView views={views} color={color} intervalMs={intervalMs} updatedAt={updatedAt} />;
}

export function topLine(v: InstanceView): string {
  const rates = v.rates.map((r) => `${r.type}=${r.published.toFixed(1)}/s`).join(' ');
  return [
    v.instanceId ?? v.url,
    `connections=${v.connections ?? '-'}`,
    `users=${v.users ?? '-'}`,
    `buffer=${v.buffer.events ?? '-'}ev/${v.buffer.bytes === null ? '-' : formatBytes(v.buffer.bytes)}`,
    `p50=${formatSeconds(v.p50)}`,
    `p99=${formatSeconds(v.p99)}`,
    `published=${v.totalPublished.toFixed(1)}/s`,
    rates,
  ]
    .filter(Boolean)
    .join('  ');
}

export async function runTop(ctx: Context, opts: TopOptions): Promise<number> {
  const intervalMs = parseInterval(opts.interval, 1000);
  const count = opts.count === undefined ? undefined : Number(opts.count);
  if (count !== undefined && !(Number.isInteger(count) && count > 0)) throw usageError(`Invalid --count '${opts.count}': a positive integer`);
  const poller = createMetricsPoller(ctx.urls, ctx.token);
  // Fail fast (unreachable, wrong URL) before taking the screen or printing anything.
  const first = await poller.poll();
  const err = poller.lastError();
  if (err) throw err;

  if (ctx.interactive) {
    const app = render(<TopApp poller={poller} intervalMs={intervalMs} color={ctx.color} />, {
      stdout: ctx.io.stdout,
      stdin: ctx.io.stdin,
      exitOnCtrlC: true,
      patchConsole: false,
    });
    ctx.onInterrupt(() => app.unmount());
    await app.waitUntilExit();
    return ExitCode.OK;
  }

  let stopped = false;
  let wake: (() => void) | null = null;
  ctx.onInterrupt(() => {
    stopped = true;
    wake?.();
  });
  const print = (views: InstanceView[]) => {
    for (const v of views) ctx.out(ctx.json ? JSON.stringify(v) : topLine(v));
  };
  print(first);
  for (let i = 1; !stopped && (count === undefined || i < count); i += 1) {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, intervalMs);
      wake = () => (clearTimeout(t), resolve());
    });
    if (stopped) break;
    const views = await poller.poll();
    const e = poller.lastError();
    if (e) throw e;
    print(views);
  }
  return ExitCode.OK;
}
