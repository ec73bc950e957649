/**
 * `rtctl revoke <userId>`: refuse every token of that user issued before now and close the user's
 * sockets on every instance (POST /api/admin/users/:userId/revoke, admin). One instance is enough:
 * it tells the others over the bus. With several --url the first is asked.
 */
import { Command } from 'commander';
import { createApi } from '../api.js';
import { ExitCode, usageError } from '../errors.js';
import type { CommandKit } from './command.js';

interface RevokeReply {
  userId: string;
  revokedAt: string;
  closedConnections: number;
  instanceId: string;
}

export function revokeCommand({ ctxOf, run }: CommandKit): Command {
  return new Command('revoke')
    .description("refuse every token of a user issued before now and close the user's sockets on every instance (admin)")
    .argument('<userId>', 'the user (the tokens\' sub)')
    .addHelpText(
      'after',
      '\nThe user signs in again for a new token; a token issued in the same second as the revocation is refused too.\n' +
        'Prints the revocation time and the sockets closed on the instance asked (the others close theirs).',
    )
    .action(
      run(async (cmd) => {
        const ctx = ctxOf(cmd);
        const userId = String(cmd.args[0]);
        if (userId.length === 0 || userId.length > 128) throw usageError('userId must be 1 to 128 characters');
        if (!ctx.token) {
          throw usageError('revoke needs an admin token: pass --token or set RT_TOKEN (mint one: rtctl token --user <id> --admin)');
        }
        const api = createApi({ baseUrl: ctx.urls[0]!, token: ctx.token });
        const r = await api.postJson<RevokeReply>(`/api/admin/users/${encodeURIComponent(userId)}/revoke`);
        if (ctx.json) ctx.out(JSON.stringify(r));
        else {
          ctx.out(
            `revoked: tokens of ${r.userId} issued before ${r.revokedAt} are refused; ` +
              `${r.closedConnections} socket(s) closed on ${r.instanceId}, the other instances close theirs`,
          );
        }
        return ExitCode.OK;
      }),
    );
}
