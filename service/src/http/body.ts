/**
 * JSON body reading with a hard size limit: 413 before any parsing or writing, 415 for other content
 * types, 400 for malformed JSON. The parsed body lands in ctx.state.body, the text as received in
 * ctx.state.rawBody (the Idempotency-Key fingerprint hashes it).
 */
import type { IncomingMessage } from 'node:http';
import type { Middleware, ParameterizedContext } from 'koa';
import getRawBody from 'raw-body';
import { AppError, errors } from '../errors.js';

const WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

/** What the service reads and throws away of a refused body, so its client can read the 413. */
export interface BodyDrain {
  /** The longest time spent on it; a client still sending then is disconnected. */
  timeoutMs: number;
  /** The most bytes thrown away; a client sending more is disconnected. */
  maxBytes: number;
}

/** `drain`: config BODY_DRAIN_MS / BODY_DRAIN_BYTES. */
export function jsonBody(maxBytes: number, drain: BodyDrain): Middleware {
  return async (ctx, next) => {
    if (!WITH_BODY.has(ctx.method)) return next();
    const lengthHeader = ctx.get('content-length');
    const length = lengthHeader === '' ? null : Number(lengthHeader);
    const chunked = ctx.get('transfer-encoding') !== '';
    if ((length === null || length === 0) && !chunked) {
      ctx.state.body = undefined;
      return next();
    }
    if (length !== null && length > maxBytes) refuseTooLarge(ctx, maxBytes, drain);
    if (!ctx.is('application/json', '+json')) throw errors.unsupportedType();
    let raw: string;
    try {
      raw = await getRawBody(ctx.req, { length: length ?? undefined, limit: maxBytes, encoding: 'utf8' });
    } catch (err) {
      const type = (err as { type?: string }).type;
      // Chunked, or more bytes than announced: the limit is found while reading. raw-body has paused
      // the request and dropped what it read.
      if (type === 'entity.too.large') refuseTooLarge(ctx, maxBytes, drain);
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

/**
 * Answer 413 in a way the client can read. Closing the connection while the client is still
 * uploading (what `Connection: close` did here) makes the kernel answer its next segments with a
 * reset: `fetch` then fails with EPIPE / "fetch failed" instead of showing the 413, for most bodies
 * of a few MB. Mature servers read on before closing (nginx's lingering close, Go's
 * rstAvoidanceDelay). So the 413 goes out at once (the error middleware writes it) and the rest of
 * the body is read and thrown away as it comes, never buffered; once it ends the connection is
 * clean and stays open for the next request (keep-alive). Bounded by `drain`: a client still
 * sending after `timeoutMs`, or past `maxBytes`, is disconnected. Nothing else would end a stalled
 * or dripping upload soon: Node's keepAliveTimeout does not run while a request body is unfinished,
 * and its requestTimeout is 5 minutes.
 */
function refuseTooLarge(ctx: ParameterizedContext, maxBytes: number, drain: BodyDrain): never {
  discardRest(ctx.req, drain);
  throw errors.tooLarge(maxBytes);
}

function discardRest(req: IncomingMessage, drain: BodyDrain): void {
  if (req.complete) return;
  const socket = req.socket;
  let discarded = 0;
  const cutOff = () => {
    stop();
    socket.destroy();
  };
  const onData = (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > drain.maxBytes) cutOff();
  };
  // It ends with the body, or with the connection.
  const stop = () => {
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', stop);
    socket.off('close', stop);
  };
  const timer = setTimeout(cutOff, drain.timeoutMs);
  timer.unref();
  req.on('data', onData);
  req.once('end', stop);
  socket.once('close', stop);
  req.resume();
}
