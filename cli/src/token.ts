/**
 * Development tokens: HS256 JWTs signed with the service's JWT_SECRET (DESIGN §3), and a checker
 * that says why a token is refused. The claims are the ones the service reads: `sub`, `role`, `exp`.
 */
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { DEV_JWT_SECRET } from '../../service/src/protocol/index.js';
import { mintToken as signToken } from '../../tools/token.js';
import { usageError } from './errors.js';

const TTL_RE = /^(\d+)\s*(s|m|h|d)?$/;
const UNIT_S = { s: 1, m: 60, h: 3600, d: 86400 } as const;

/** '8h', '30m', '45s', '2d' or plain seconds → seconds. */
export function parseTtl(ttl: string): number {
  const m = TTL_RE.exec(ttl.trim());
  if (!m) throw usageError(`Invalid --ttl '${ttl}': use a number with s, m, h or d (e.g. 8h)`);
  const n = Number(m[1]) * UNIT_S[(m[2] ?? 's') as keyof typeof UNIT_S];
  if (n <= 0) throw usageError(`Invalid --ttl '${ttl}': must be more than 0`);
  return n;
}

export interface SecretSource {
  secret?: string;
  env: NodeJS.ProcessEnv;
  /** Allow the service's built-in development secret when nothing else is set. */
  dev?: boolean;
  warn: (line: string) => void;
}

/**
 * The signing secret: --secret, else JWT_SECRET, else (only with --dev, with a warning) the service's
 * DEV_JWT_SECRET. Without any of them: a usage error, never a silent default.
 */
export function resolveSecret(src: SecretSource): string {
  const secret = src.secret ?? (src.env.JWT_SECRET?.trim() ? src.env.JWT_SECRET : undefined);
  if (secret !== undefined) {
    if (Buffer.byteLength(secret) < 32) throw usageError('The secret is shorter than 32 bytes; the service refuses such a JWT_SECRET');
    return secret;
  }
  if (src.dev) {
    src.warn('rtctl: warning: using the built-in development secret (the service uses it only when JWT_SECRET is unset)');
    return DEV_JWT_SECRET;
  }
  throw usageError('No signing secret: set JWT_SECRET to the service\'s secret, pass --secret, or --dev for a local service without JWT_SECRET');
}

/** A development token for `userId` (tools/token.ts signs it), with rtctl's usage checks. */
export async function mintToken(opts: { userId: string; admin?: boolean; ttlSec: number; secret: string }): Promise<string> {
  if (!opts.userId || opts.userId.length > 128) throw usageError('--user must be 1 to 128 characters');
  return signToken(opts.userId, { admin: opts.admin, ttlSec: opts.ttlSec, secret: opts.secret });
}

export type TokenCheck =
  | { valid: true; claims: JWTPayload; userId: string; admin: boolean; expiresAt: string | null }
  | { valid: false; reason: 'malformed' | 'expired' | 'signature' | 'algorithm' | 'claims'; message: string; claims: JWTPayload | null };

/** Decode and verify like the service does (HS256, 5 s clock tolerance, `sub` required). */
export async function checkToken(token: string, secret: string, nowMs = Date.now()): Promise<TokenCheck> {
  let claims: JWTPayload;
  let alg: string | undefined;
  try {
    claims = decodeJwt(token.trim());
    alg = decodeProtectedHeader(token.trim()).alg;
  } catch {
    return { valid: false, reason: 'malformed', message: 'not a JWT (expected three base64url parts: header.payload.signature)', claims: null };
  }
  if (alg !== 'HS256') {
    return { valid: false, reason: 'algorithm', message: `algorithm ${String(alg)} is not HS256; rtctl can only check HS256 development tokens`, claims };
  }
  try {
    await jwtVerify(token.trim(), new TextEncoder().encode(secret), {
      algorithms: ['HS256'],
      clockTolerance: 5,
      currentDate: new Date(nowMs),
    });
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) {
      const exp = typeof claims.exp === 'number' ? new Date(claims.exp * 1000).toISOString() : '?';
      return { valid: false, reason: 'expired', message: `expired at ${exp}`, claims };
    }
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
      return { valid: false, reason: 'signature', message: 'bad signature: signed with another secret than this JWT_SECRET', claims };
    }
    if (err instanceof joseErrors.JWTClaimValidationFailed) {
      return { valid: false, reason: 'claims', message: `claim ${err.claim} rejected: ${err.reason}`, claims };
    }
    return { valid: false, reason: 'malformed', message: 'malformed token', claims };
  }
  if (typeof claims.sub !== 'string' || claims.sub.length === 0 || claims.sub.length > 128) {
    return { valid: false, reason: 'claims', message: 'no valid sub claim (the user id)', claims };
  }
  const c = claims as JWTPayload & { role?: unknown; admin?: unknown };
  return {
    valid: true,
    claims,
    userId: claims.sub,
    admin: c.role === 'admin' || c.admin === true,
    expiresAt: typeof claims.exp === 'number' ? new Date(claims.exp * 1000).toISOString() : null,
  };
}
