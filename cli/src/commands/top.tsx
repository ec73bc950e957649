/**
 * `rtctl top`: a live dashboard from each instance's /metrics (no token needed). With an admin
 * token it shows the whole cluster from one --url: every instance the cluster announces is scraped
 * too (metrics-scraper.ts), and the totals are shown. Full-screen Ink in a terminal (q quits);
 * otherwise one line per instance per refresh, then a TOTAL line when there are several (NDJSON
 * with --json: the instance objects, then `{ "totals": … }`).
 */
import { Command } from 'commander';
import type { Context } from '../context.js';
import { ExitCode, usageError } from '../errors.js';
import { formatBytes } from '../format.js';
import { createMetricsScraper, discoverFrom } from '../metrics-scraper.js';
import { parseInterval, pollLines } from '../poll.js';
import { clusterTotals, formatSeconds, type ClusterTotals, type InstanceView } from '../top-model.js';
import type { CommandKit } from './command.js';

export interface TopOptions {
  interval?: string;
  count?: string;
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

export function totalsLine(t: ClusterTotals): string {
  return [
    `TOTAL (${t.instances} instances${t.withErrors ? `, ${t.withErrors} incomplete` : ''})`,
    `connections=${t.connections}`,
    `users=${t.users}`,
    `buffer=${t.bufferEvents}ev/${formatBytes(t.bufferBytes)}`,
    `published=${t.published.toFixed(1)}/s`,
    `delivered=${t.delivered.toFixed(1)}/s`,
  ].join('  ');
}

export async function runTop(ctx: Context, opts: TopOptions): Promise<number> {
  const intervalMs = parseInterval(opts.interval, 1000);
  const count = opts.count === undefined ? undefined : Number(opts.count);
  if (count !== undefined && !(Number.isInteger(count) && count > 0)) throw usageError(`Invalid --count '${opts.count}': a positive integer`);
  const scraper = createMetricsScraper(ctx.urls, ctx.token, undefined, ctx.token ? discoverFrom(ctx.urls, ctx.token) : undefined);
  // Plain output stops at the first failed scrape; the screen shows it in the instance's panel.
  const scrape = async () => {
    const views = await scraper.scrape();
    const err = scraper.lastError();
    if (err) throw err;
    return views;
  };
  // Fail fast (unreachable, wrong URL) before taking the screen or printing anything.
  const first = await scrape();

  if (ctx.interactive) {
    const [{ render }, { TopApp }] = await Promise.all([import('ink'), import('../components/TopApp.js')]);
    const app = render(<TopApp scraper={scraper} intervalMs={intervalMs} color={ctx.color} first={first} cluster={Boolean(ctx.token)} />, {
      stdout: ctx.io.stdout,
      stdin: ctx.io.stdin,
      exitOnCtrlC: true,
      patchConsole: false,
    });
    ctx.onInterrupt(() => app.unmount());
    await app.waitUntilExit();
    return ExitCode.OK;
  }
  return pollLines(ctx, scrape, {
    intervalMs,
    count,
    first,
    print: (views) => {
      for (const v of views) ctx.out(ctx.json ? JSON.stringify(v) : topLine(v));
      if (views.length > 1) {
        const totals = clusterTotals(views);
        ctx.out(ctx.json ? JSON.stringify({ totals }) : totalsLine(totals));
      }
    },
  });
}

export function topCommand({ ctxOf, run }: CommandKit): Command {
  return new Command('top')
    .description(
      'live dashboard from /metrics of each --url, and of every instance of the cluster with an admin token: connections, events/s, delivery p50/p99, buffers, totals (q quits)',
    )
    .option('--interval <ms>', 'refresh interval (ms, or e.g. 2s)', '1000')
    .option('--count <n>', 'stop after n refreshes (plain and --json output)')
    .action(run((cmd) => runTop(ctxOf(cmd), cmd.opts<TopOptions>())));
}
