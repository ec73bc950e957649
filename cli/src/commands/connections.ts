/**
 * `rtctl connections [--user <id>] [--limit <n>]`: the devices connected to every live instance of
 * the cluster, from any one --url (admin), each with its instance; then each instance's outcome.
 */
import { Command } from 'commander';
import { showOnce } from '../admin-output.js';
import { fetchConnections } from '../cluster-views.js';
import { usageError } from '../errors.js';
import type { CommandKit } from './command.js';

const MAX_LIMIT = 20_000; // the service's per-instance maximum

export function connectionsCommand({ ctxOf, run }: CommandKit): Command {
  return new Command('connections')
    .description('devices connected to every instance of the cluster (GET /api/admin/connections, admin)')
    .option('--user <id>', 'only this user')
    .option('--limit <n>', `at most n devices per instance (default 1000, at most ${MAX_LIMIT}); the counts still count all`)
    .action(
      run((cmd) => {
        const ctx = ctxOf(cmd);
        const opts = cmd.opts<{ user?: string; limit?: string }>();
        const limit = opts.limit === undefined ? undefined : Number(opts.limit);
        if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= MAX_LIMIT)) {
          throw usageError(`Invalid --limit '${opts.limit}': an integer from 1 to ${MAX_LIMIT}`);
        }
        return showOnce(ctx, () => fetchConnections(ctx, opts.user, limit));
      }),
    );
}
