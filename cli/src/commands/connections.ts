/** `rtctl connections [--user <id>]`: the devices connected to each instance (admin). */
import { Command } from 'commander';
import { showOnce } from '../admin-output.js';
import { fetchConnections } from '../admin-views.js';
import type { CommandKit } from './command.js';

export function connectionsCommand({ ctxOf, run }: CommandKit): Command {
  return new Command('connections')
    .description('devices connected to each instance (admin)')
    .option('--user <id>', 'only this user')
    .action(
      run((cmd) => {
        const ctx = ctxOf(cmd);
        return showOnce(ctx, () => fetchConnections(ctx, cmd.opts<{ user?: string }>().user));
      }),
    );
}
