import type { Middleware } from 'koa';
import { AuthError, bearerToken, type Principal, type TokenVerifier } from '../auth.js';
import { errors } from '../errors.js';
import type { Metrics } from '../metrics.js';

/**
 * Requires a valid bearer token (header only: query tokens are for browser WebSockets). 401 for a
 * bad or revoked token; 503 when the token could not be judged (the JWKS endpoint is down).
 */
export function requireUser(verify: TokenVerifier, metrics: Metrics): Middleware {
  return async (ctx, next) => {
    let principal: Principal;
    try {
      principal = await verify(bearerToken(ctx.get('authorization') || undefined));
    } catch (err) {
      const reason = err instanceof AuthError ? err.reason : 'malformed';
      metrics.authFailures.inc({ reason });
      if (reason === 'unavailable') throw errors.unavailable((err as AuthError).message);
      throw errors.unauthorized(err instanceof AuthError ? err.message : undefined);
    }
    ctx.state.principal = principal;
    return next();
  };
}

export const requireAdmin: Middleware = async (ctx, next) => {
  const principal = ctx.state.principal as Principal | undefined;
  if (!principal?.admin) throw errors.forbidden();
  return next();
};
