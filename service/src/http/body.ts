/**
 * JSON body reading with a hard size limit: 413 before any parsing or writing, 415 for other content
 * types, 400 for malformed JSON. The parsed body lands in ctx.state.body, the text as received in
 * ctx.state.rawBody (the Idempotency-Key fingerprint hashes it).
 */
import type { Middleware } from 'koa';
import getRawBody from 'raw-body';
import { AppError, errors } from '../errors.js';

const WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

export function jsonBody(maxBytes: number): Middleware {
  return async (ctx, next) => {
    if (!WITH_BODY.has(ctx.method)) return next();
    const lengthHeader = ctx.get('content-length');
    const length = lengthHeader === '' ? null : Number(lengthHeader);
    const chunked = ctx.get('transfer-encoding') !== '';
    if ((length === null || length === 0) && !chunked) {
      ctx.state.body = undefined;
      return next();
    }
    if (length !== null && length > maxBytes) {
      ctx.set('Connection', 'close');
      throw errors.tooLarge(maxBytes);
    }
    if (!ctx.is('application/json', '+json')) throw errors.unsupportedType();
    let raw: string;
    try {
      raw = await getRawBody(ctx.req, { length: length ?? undefined, limit: maxBytes, encoding: 'utf8' });
    } catch (err) {
      const type = (err as { type?: string }).type;
      if (type === 'entity.too.large') {
        ctx.set('Connection', 'close');
        throw errors.tooLarge(maxBytes);
      }
      if (type === 'encoding.unsupported') throw errors.unsupportedType();
      throw new AppError(400, 'BAD_REQUEST', 'Could not read the request body', { cause: err });
    }
    ctx.state.rawBody = raw;
    try {
      ctx.state.body = JSON.parse(raw);
    } catch (err) {
      throw errors.malformedJson(`Body is not valid JSON: ${(err as Error).message}`);
    }
    return next();
  };
}
