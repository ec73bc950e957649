/**
 * `POST /api/dev/token { userId }` → `{ token, expiresAt }`: lets the demo page sign in on a local
 * service with one click. It exists only while the service runs on its built-in development secret
 * (no JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL): anyone can mint such tokens with the public
 * secret anyway, so the route gives nothing away. With a configured key (and so always in
 * production, where config refuses to start without one) every method answers 404, exactly like a
 * path that was never routed, so its existence is not revealed either.
 */
import type Router from '@koa/router';
import { SignJWT } from 'jose';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { defineRoute } from '../../http/route-spec.js';
import { validate } from '../../http/validate.js';
import { DEV_JWT_SECRET } from '../../protocol/index.js';
import { storableText } from '../common.js';

export const DEV_TOKEN_PATH = '/api/dev/token';

export interface DevTokenOptions {
  /** True when the service verifies tokens with DEV_JWT_SECRET (config.jwt.usingDevSecret). */
  enabled: boolean;
  /** Lifetime of a minted token; the demo page mints a new one when it is refused. */
  ttlSec?: number;
  now?: () => number;
}

const bodySchema = z.object({ userId: storableText().trim().min(1).max(128) });

/** The route's contract, for the OpenAPI document (http/api-routes.ts may list it). */
export const devRoutes = {
  token: defineRoute({
    method: 'post', path: DEV_TOKEN_PATH, operationId: 'mintDevToken', tag: 'dev', auth: 'none',
    summary: 'Mint a development token for a user id (only on the built-in development secret)',
    description: 'Exists only while no JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL is set; otherwise 404 for every method.',
    body: bodySchema,
    responses: {
      200: { description: 'A user token (never an admin one)', schema: z.object({ token: z.string(), expiresAt: z.string() }) },
      404: { description: 'The service verifies tokens with a configured key' },
    },
  }),
};

/** Signs a user token (never an admin one: the route needs no credentials at all). */
export async function mintDevToken(userId: string, ttlSec: number, nowMs: number): Promise<{ token: string; expiresAt: string }> {
  const now = Math.floor(nowMs / 1000);
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSec)
    .sign(new TextEncoder().encode(DEV_JWT_SECRET));
  return { token, expiresAt: new Date((now + ttlSec) * 1000).toISOString() };
}

export function registerDevRoutes(router: Router, opts: DevTokenOptions): void {
  const ttlSec = opts.ttlSec ?? 12 * 3600;
  const now = opts.now ?? Date.now;
  router.all(DEV_TOKEN_PATH, async (ctx) => {
    if (!opts.enabled) throw new AppError(404, 'NOT_FOUND', `No route for ${ctx.method} ${ctx.path}`);
    if (ctx.method !== 'POST') {
      ctx.set('Allow', 'POST');
      throw new AppError(405, 'METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${ctx.path}; allowed: POST`);
    }
    const { userId } = validate(bodySchema, ctx.state.body ?? {}, 'body');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await mintDevToken(userId, ttlSec, now());
  });
}
