/** The pino logger, created once in main.ts (or a test) and handed down. Secrets never reach a line. */
import pino, { type DestinationStream, type Logger } from 'pino';
import { redactUrl } from './http/request-log.js';

export const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'headers.authorization',
  'secret',
  '*.secret',
  'password',
  '*.password',
];

export function createLogger(opts: { level: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: opts.level,
      base: { service: 'archibald-realtime' },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      serializers: { err: pino.stdSerializers.err },
    },
    opts.destination,
  );
}

/**
 * An error reduced to fields that are safe to log where it may carry request data: pino's err
 * serializer copies every own property, and Node's URL errors keep the whole URL (?token= included)
 * in `input`. Keeps type, code and message (token-like query values redacted), drops the rest.
 */
export function safeError(err: unknown): { type: string; code?: string; message: string } {
  if (!(err instanceof Error)) return { type: typeof err, message: 'non-error thrown' };
  const code = (err as { code?: unknown }).code;
  return {
    type: err.name,
    ...(typeof code === 'string' ? { code } : {}),
    message: redactUrl(err.message),
  };
}
