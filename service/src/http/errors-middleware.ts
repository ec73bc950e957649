/** Turns every error into the JSON error body with the right status; never a stack trace to a client. */
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import { isConnectionError } from '../storage/sql-runner.js';

export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (isConnectionError(err)) {
    return new AppError(503, 'UNAVAILABLE', 'Database unavailable; retry later', { cause: err });
  }
  const status = (err as { status?: unknown }).status;
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
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new AppError(404, 'NOT_FOUND', `No route for ${ctx.method} ${ctx.path}`);
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
