/** Entry points of the admin commands (see admin.tsx for the views). */
import type { Context } from '../context.js';
import { fetchBuffers, fetchConnections, fetchStats, parseInterval, showOnce, watch } from './admin.js';

export function runStats(ctx: Context, opts: { watch?: boolean; interval?: string }): Promise<number> {
  const load = () => fetchStats(ctx);
  return opts.watch ? watch(ctx, load, parseInterval(opts.interval, 2000)) : showOnce(ctx, load);
}

export function runBuffer(ctx: Context, userId: string | undefined): Promise<number> {
  return showOnce(ctx, () => fetchBuffers(ctx, userId));
}

export function runConnections(ctx: Context, userId: string | undefined): Promise<number> {
  return showOnce(ctx, () => fetchConnections(ctx, userId));
}
