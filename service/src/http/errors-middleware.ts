/** Turns every error into the JSON error body with the right status; never a stack trace to a client. */
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import { StorageUnavailableError } from '../ports/storage.js';

export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  // The storage adapters raise it for an unreachable database, whatever their driver said.
  if (err instanceof StorageUnavailableError) {
    return new AppError(503, 'UNAVAILABLE', 'Database unavailable; retry later', { cause: err });
  }
  const status = (err as { status?: unknown }).status;
  if (status === 501) return new AppError(501, 'NOT_IMPLEMENTED', (err as Error).message || 'Not implemented', { cause: err, expose: true });
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = status === 405 ? 'METHOD_NOT_ALLOWED' : status === 404 ? 'NOT_FOUND' : 'BAD_REQUEST';
    return new AppError(status, code, (err as Error).message || 'Bad request', { cause: err });
  }
  return new AppError(500, 'INTERNAL', 'Internal server error', { cause: err, expose: false });
}

export function errorMiddleware(log: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      // Statuses set without a body (no route; the router's allowedMethods 405/501, which keep
      // their Allow header) get the JSON error body too, never Koa's plain-text status message.
      if (ctx.body === undefined || ctx.body === null) {
        if (ctx.status === 404) throw new AppError(404, 'NOT_FOUND', `No route for ${ctx.method} ${ctx.path}`);
        if (ctx.status === 405) {
          throw new AppError(405, 'METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${ctx.path}; allowed: ${ctx.response.get('Allow')}`);
        }
        if (ctx.status === 501) {
          throw new AppError(501, 'NOT_IMPLEMENTED', `${ctx.method} is not implemented`, { expose: true });
        }
      }
    } catch (err) {
      const appErr = toAppError(err);
      ctx.status = appErr.status;
      ctx.body = appErr.toJSON();
      if (appErr.status === 401) ctx.set('WWW-Authenticate', 'Bearer');
      if (appErr.status >= 500) {
        log.error({ err: appErr.cause ?? appErr, method: ctx.method, path: ctx.path, code: appErr.code }, 'request failed');
      }
    }
  };
}
