/** The one error type the HTTP layer turns into `{ error: { code, message, details? } }`. */
export class AppError extends Error {
  readonly status: number;
  readonly code: string;
  /** When false the message is replaced by a generic one before it reaches a client. */
  readonly expose: boolean;
  readonly details?: unknown;
  /** Extra top-level fields of the error body (e.g. `current` on a STALE_WRITE). */
  readonly extra?: Record<string, unknown>;

  constructor(
    status: number,
    code: string,
    message: string,
    opts: { details?: unknown; extra?: Record<string, unknown>; expose?: boolean; cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = 'AppError';
    this.status = status;
    this.code = code;
    this.expose = opts.expose ?? status < 500;
    this.details = opts.details;
    this.extra = opts.extra;
  }

  toJSON(): Record<string, unknown> {
    const error: Record<string, unknown> = {
      code: this.code,
      message: this.expose ? this.message : 'Internal server error',
    };
    if (this.expose && this.details !== undefined) error.details = this.details;
    return { error, ...(this.expose ? this.extra : {}) };
  }
}

export const errors = {
  validation: (message: string, details?: unknown) => new AppError(400, 'VALIDATION_FAILED', message, { details }),
  malformedJson: (message: string) => new AppError(400, 'MALFORMED_JSON', message),
  unauthorized: (message = 'Missing or invalid bearer token') => new AppError(401, 'UNAUTHORIZED', message),
  forbidden: (message = 'Admin role required') => new AppError(403, 'FORBIDDEN', message),
  notFound: (what: string) => new AppError(404, 'NOT_FOUND', `${what} not found`),
  staleWrite: (current: unknown) =>
    new AppError(409, 'STALE_WRITE', 'A newer version exists; updatedAt is not newer than the stored one', {
      extra: { current },
    }),
  versionConflict: (current: unknown) =>
    new AppError(409, 'VERSION_CONFLICT', 'baseVersion does not match the current version', { extra: { current } }),
  gone: (what: string) => new AppError(410, 'GONE', `${what} was deleted`),
  tooLarge: (limit: number) => new AppError(413, 'PAYLOAD_TOO_LARGE', `Body is larger than ${limit} bytes`),
  unsupportedType: () => new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json'),
  unavailable: (message: string) => new AppError(503, 'UNAVAILABLE', message),
};
