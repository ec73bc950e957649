/**
 * `rtctl stats [--watch]`: connections, users and ring buffers of every live instance of the
 * cluster, from any one --url (admin), with totals.
 */
import { Command } from 'commander';
import { showOnce, watch } from '../admin-output.js';
import { fetchStats } from '../cluster-views.js';
import { parseInterval } from '../poll.js';
import type { CommandKit } from './command.js';

export function statsCommand({ ctxOf, run }: CommandKit): Command {
  return new Command('stats')
    .description('connections, users and ring buffers of every instance of the cluster, with totals (GET /api/websocket/stats, admin)')
    .option('--watch', 'refresh until Ctrl-C or q')
    .option('--interval <ms>', 'refresh interval for --watch (ms, or e.g. 5s)', '2000')
    .action(
      run((cmd) => {
        const ctx = ctxOf(cmd);
        const opts = cmd.opts<{ watch?: boolean; interval?: string }>();
        const load = () => fetchStats(ctx);
        return opts.watch ? watch(ctx, load, parseInterval(opts.interval, 2000)) : showOnce(ctx, load);
      }),
    );
}
