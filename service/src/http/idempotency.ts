/**
 * Idempotent writes (DESIGN §12). A write carrying `Idempotency-Key` runs once per user and key; a
 * repeat of the same request gets the kept status and body again, with `Idempotent-Replayed: true`,
 * and emits nothing.
 *
 * Two pieces, kept apart so the write path can change under them:
 * - `createIdempotencyGuard` (Koa middleware on every write route): validates the header, computes the
 *   request's fingerprint and answers 409/422 for a key that is still running on this instance.
 * - the storage's write (one per write kind; on SQL the server-side functions of
 *   storage/write-functions.ts): under the user's lock, looks the key up (replay or 422) or runs the
 *   change and records the key with its response in the same transaction. A crash therefore never
 *   leaves a change without its key or a key without its change.
 *
 * "In use" across instances: the in-flight set only knows this instance. A repeat that lands on
 * another instance while the first is running waits on the user's row lock in its own unit of work;
 * once the first commits, it finds the key and gets the replay (or 422). It is never a second change.
 *
 * A request whose change is refused (any AppError thrown inside the unit of work: 404, 409
 * STALE_WRITE, 410, ...) rolls back, so its key is not kept: a retry with the same key is evaluated
 * afresh against the current state. Only committed outcomes are replayed.
 */
import { createHash } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { Principal } from '../auth.js';
import { AppError } from '../errors.js';
import type { IdempotencyScope } from '../ports/writes.js';
import { validate } from './validate.js';

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
export const IDEMPOTENT_REPLAYED_HEADER = 'Idempotent-Replayed';

export const idempotencyKeySchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x20-\x7E]+$/, 'printable ASCII characters only');

/** What a write needs to be idempotent: the key, the request's fingerprint and the oldest record that still counts. */
export type { IdempotencyScope };

/** A write's answer: what the route sends. `replayed` when it is the kept answer of an earlier request. */
export interface Reply<B = unknown> {
  status: number;
  body: B;
  replayed: boolean;
}

export const idempotencyErrors = {
  reused: () =>
    new AppError(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used for a different request (method, path or body)'),
  inUse: () => new AppError(409, 'IDEMPOTENCY_KEY_IN_USE', 'A request with this Idempotency-Key is still running; retry shortly'),
};

/**
 * Method, path and a hash of the body as received (the decoded text, before parsing), so an offline
 * queue that resends the same bytes matches, and any change to them does not.
 */
export function requestFingerprint(method: string, path: string, rawBody: string | undefined): string {
  const bodyHash = createHash('sha256').update(rawBody ?? '', 'utf8').digest('base64url');
  return `${method.toUpperCase()} ${path} ${bodyHash}`;
}

/** The request's scope, set by the guard; null when it carries no key. */
export function idempotencyScope(ctx: Context): IdempotencyScope | null {
  return (ctx.state.idempotency as IdempotencyScope | undefined) ?? null;
}

/** Write a Reply to the response. */
export function sendReply(ctx: Context, reply: Reply): void {
  ctx.status = reply.status;
  ctx.body = reply.body;
  if (reply.replayed) ctx.set(IDEMPOTENT_REPLAYED_HEADER, 'true');
}

export function createIdempotencyGuard({ ttlMs, now = Date.now }: { ttlMs: number; now?: () => number }) {
  // user id + key -> fingerprint of the request running with it on this instance.
  const inFlight = new Map<string, string>();

  const guard: Middleware = async (ctx, next) => {
    if (ctx.headers['idempotency-key'] === undefined) return next();
    const key = validate(idempotencyKeySchema, ctx.get('idempotency-key'), `${IDEMPOTENCY_KEY_HEADER} header`);
    const { userId } = ctx.state.principal as Principal;
    const fingerprint = requestFingerprint(ctx.method, ctx.path, ctx.state.rawBody as string | undefined);
    const slot = `${userId}\n${key}`;
    const running = inFlight.get(slot);
    if (running !== undefined) throw running === fingerprint ? idempotencyErrors.inUse() : idempotencyErrors.reused();
    inFlight.set(slot, fingerprint);
    ctx.state.idempotency = { key, fingerprint, notBefore: new Date(now() - ttlMs) } satisfies IdempotencyScope;
    try {
      await next();
    } finally {
      inFlight.delete(slot);
    }
  };
  return { guard, inFlightCount: () => inFlight.size };
}
