/**
 * Bearer token verification (jose). HS256 with JWT_SECRET; RS256/ES256/PS256/EdDSA with JWT_PUBLIC_KEY
 * or a JWKS URL. `alg: none` and any algorithm not configured are refused.
 */
import { createRemoteJWKSet, errors as joseErrors, importSPKI, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Config } from './config.js';

export interface Principal {
  userId: string;
  admin: boolean;
  /** Expiry in ms since the epoch, or null for a token without `exp`. */
  expiresAtMs: number | null;
}

export type AuthFailureReason = 'missing' | 'malformed' | 'expired' | 'signature' | 'algorithm' | 'claims';

export class AuthError extends Error {
  constructor(
    readonly reason: AuthFailureReason,
    message: string,
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

export type TokenVerifier = (token: string | undefined | null) => Promise<Principal>;

const ASYMMETRIC_ALGS = ['RS256', 'ES256', 'PS256', 'EdDSA'] as const;

async function importPublicKey(pem: string): Promise<{ key: Awaited<ReturnType<typeof importSPKI>>; alg: string }> {
  for (const alg of ASYMMETRIC_ALGS) {
    try {
      return { key: await importSPKI(pem, alg), alg };
    } catch {
      // try the next algorithm
    }
  }
  throw new Error('JWT_PUBLIC_KEY is not a PEM SPKI public key for RS256, ES256, PS256 or EdDSA');
}

/** Verified tokens kept (by their full text, signature included) so a device's requests are not re-verified. */
const CACHE_MAX = 10_000;

export async function createTokenVerifier(jwt: Config['jwt']): Promise<TokenVerifier> {
  // Imported once: jose would otherwise import a raw secret into WebCrypto on every verification.
  const secret = jwt.secret
    ? await crypto.subtle.importKey('raw', new TextEncoder().encode(jwt.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
    : null;
  const publicKey = jwt.publicKey ? await importPublicKey(jwt.publicKey.replace(/\\n/g, '\n')) : null;
  const jwks: JWTVerifyGetKey | null = jwt.jwksUrl ? createRemoteJWKSet(new URL(jwt.jwksUrl)) : null;
  const algorithms = [
    ...(secret ? ['HS256'] : []),
    ...(publicKey ? [publicKey.alg] : []),
    ...(jwks ? ASYMMETRIC_ALGS : []),
  ];

  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (header.alg === 'HS256' && secret) return secret;
    if (publicKey && header.alg === publicKey.alg) return publicKey.key;
    if (jwks) return jwks(header, token);
    throw new AuthError('algorithm', `Token algorithm ${String(header.alg)} is not accepted`);
  };

  // A Map keeps insertion order: the oldest entry is evicted first when the cache is full.
  const cache = new Map<string, Principal>();

  return async (token) => {
    if (!token) throw new AuthError('missing', 'Missing bearer token');
    const cached = cache.get(token);
    if (cached) {
      if (cached.expiresAtMs === null || cached.expiresAtMs > Date.now()) return cached;
      cache.delete(token);
    }
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/.test(token)) {
      throw new AuthError('malformed', 'Malformed token');
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        algorithms,
        issuer: jwt.issuer,
        audience: jwt.audience,
        clockTolerance: 5,
      }));
    } catch (err) {
      throw toAuthError(err);
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 128) {
      throw new AuthError('claims', 'Token has no valid sub claim');
    }
    const claims = payload as JWTPayload & { role?: unknown; admin?: unknown };
    const principal: Principal = {
      userId: payload.sub,
      admin: claims.role === 'admin' || claims.admin === true,
      expiresAtMs: typeof payload.exp === 'number' ? payload.exp * 1000 : null,
    };
    // Tokens that are not yet valid (nbf) are not cached: they are rare and time-dependent.
    if (payload.nbf === undefined) {
      if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
      cache.set(token, principal);
    }
    return principal;
  };
}

function toAuthError(err: unknown): AuthError {
  if (err instanceof AuthError) return err;
  if (err instanceof joseErrors.JWTExpired) return new AuthError('expired', 'Token expired');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new AuthError('signature', 'Token signature is invalid');
  if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported) {
    return new AuthError('algorithm', 'Token algorithm is not accepted');
  }
  if (err instanceof joseErrors.JWTClaimValidationFailed) return new AuthError('claims', `Token claim rejected: ${err.claim}`);
  if (err instanceof joseErrors.JWKSNoMatchingKey) return new AuthError('signature', 'No key matches the token');
  return new AuthError('malformed', 'Malformed token');
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}
