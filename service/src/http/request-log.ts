/** One log line and one histogram sample per request. Tokens in URLs are redacted. */
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';

/** Replace the value of any token-like query parameter. */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:token|access_token|jwt)=)[^&#]*/gi, '$1[REDACTED]');
}

const QUIET = new Set(['/healthz', '/readyz', '/metrics']);

export function requestLog(log: Logger, metrics: Metrics): Middleware {
  return async (ctx, next) => {
    const start = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const matched = (ctx as unknown as { _matchedRoute?: string | RegExp })._matchedRoute;
      const route = typeof matched === 'string' ? matched : 'unmatched';
      metrics.httpDuration.observe({ method: ctx.method, route, status: String(ctx.status) }, seconds);
      const level = ctx.status >= 500 ? 'error' : QUIET.has(ctx.path) ? 'trace' : 'debug';
      // The line is built only when it is written (no `return` here: it would swallow next()'s error).
      if (log.isLevelEnabled(level)) {
        log[level]({ method: ctx.method, url: redactUrl(ctx.originalUrl), status: ctx.status, ms: Math.round(seconds * 1e4) / 10 }, 'request');
      }
    }
  };
}
