/** `rtctl buffer [userId]`: what the ring buffers hold, for every user or one (admin). */
import { Command } from 'commander';
import { showOnce } from '../admin-output.js';
import { fetchBuffers } from '../admin-views.js';
import type { CommandKit } from './command.js';

export function bufferCommand({ ctxOf, run }: CommandKit): Command {
  return new Command('buffer')
    .description('what the ring buffers hold: every user, or the events of one user (admin)')
    .argument('[userId]', 'show the buffered events of this user')
    .action(
      run((cmd) => {
        const ctx = ctxOf(cmd);
        return showOnce(ctx, () => fetchBuffers(ctx, cmd.args[0]));
      }),
    );
}
