/**
 * POST /api/admin/users/:userId/revoke (admin): from now on every token of that user issued before
 * this call is refused (REST 401, upgrade 401, in-band AUTH refused), on every instance, and the
 * user's open sockets are closed with 4401 everywhere. Saved first (a restart keeps it), then applied
 * here, then broadcast on the bus (the other instances apply it and close their sockets; this one
 * hears its own message too, a no-op). The rule itself is in revocations.ts.
 */
import type Router from '@koa/router';
import type { Logger } from 'pino';
import { z } from 'zod';
import { errors } from '../../errors.js';
import { defineRoute } from '../../http/route-spec.js';
import { validate } from '../../http/validate.js';
import type { Bus } from '../../ports/bus.js';
import type { Storage } from '../../ports/storage.js';
import type { Revocations } from './revocations.js';

const revokeParams = z.object({ userId: z.string().min(1).max(128) });
const revokeReply = z.object({
  userId: z.string(),
  /** Tokens issued (iat) before this time are refused. */
  revokedAt: z.string(),
  /** Sockets of the user closed on the instance that answered; the others close theirs on the broadcast. */
  closedConnections: z.number().int(),
  instanceId: z.string(),
});

export const revokeRoutes = {
  revoke: defineRoute({
    method: 'post', path: '/api/admin/users/:userId/revoke', operationId: 'revokeUserTokens', tag: 'admin', auth: 'admin',
    summary: "Refuse every token of a user issued before now and close the user's sockets on every instance (4401)",
    description:
      'Tokens of the user whose `iat` is before `revokedAt` (or that have no `iat`) get 401 on REST and on the WebSocket ' +
      'upgrade from now on, on every instance; open sockets of the user are closed with 4401 within a second. `iat` has ' +
      'second resolution: a token issued in the same second as the revocation is refused too. Kept in the database.',
    params: revokeParams,
    responses: {
      200: { description: 'Revoked; `closedConnections` counts the sockets closed on this instance', schema: revokeReply },
    },
  }),
};

export interface RevokeDeps {
  storage: Pick<Storage, 'revokeTokens'>;
  revocations: Revocations;
  /** Close this instance's sockets whose token the revocation refuses; returns how many. */
  closeRevoked: (userId: string) => number;
  broadcast: Bus['broadcast'];
  instanceId: string;
  log: Logger;
}

export function registerRevokeRoutes(router: Router, deps: RevokeDeps): void {
  const log = deps.log.child({ component: 'revoke' });
  router.post(revokeRoutes.revoke.path, async (ctx) => {
    const { userId } = validate(revokeParams, ctx.params, 'params');
    const { notBefore } = await deps.storage.revokeTokens(userId, new Date());
    const notBeforeMs = notBefore.getTime();
    deps.revocations.apply(userId, notBeforeMs);
    const closedConnections = deps.closeRevoked(userId);
    try {
      await deps.broadcast({ kind: 'revoke', userId, notBeforeMs });
    } catch (err) {
      log.warn({ err, userId }, 'revocation saved but not broadcast');
      // Saved and in force here; the others read it at their next start or bus reconnect. Asking
      // again is safe (the later time wins) and tells them now.
      throw errors.unavailable('Revocation saved, but the other instances could not be told (bus unreachable); retry');
    }
    log.info({ userId, notBefore: notBefore.toISOString(), closedConnections }, 'tokens revoked');
    ctx.body = { userId, revokedAt: notBefore.toISOString(), closedConnections, instanceId: deps.instanceId };
  });
}
