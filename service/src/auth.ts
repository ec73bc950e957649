/**
 * Bearer token verification (jose). HS256 with JWT_SECRET; RS256/ES256/PS256/EdDSA with JWT_PUBLIC_KEY
 * or a JWKS URL (auth-jwks.ts). `alg: none` and any algorithm not configured are refused. A token of
 * a revoked user issued before the revocation is refused too, cached or not (`isRevoked`).
 */
import { errors as joseErrors, importSPKI, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { createJwksKeys, DEFAULT_JWKS_OPTIONS, JwksUnavailableError } from './auth-jwks.js';
import type { Config } from './config.js';

export interface Principal {
  userId: string;
  admin: boolean;
  /** Expiry in ms since the epoch, or null for a token without `exp`. */
  expiresAtMs: number | null;
  /** `iat` in ms since the epoch, or null for a token without it (revocation compares it). */
  issuedAtMs: number | null;
}

/**
 * Why a token was not accepted. Every reason is a 401, except `unavailable`: the keys to judge the
 * token could not be had (the JWKS endpoint is down), so it is a 503 and the client retries.
 */
export type AuthFailureReason = 'missing' | 'malformed' | 'expired' | 'signature' | 'algorithm' | 'claims' | 'revoked' | 'unavailable';

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

interface CacheEntry {
  principal: Principal;
  /** The JWKS generation the token was verified with; null when not verified by a JWKS key. */
  jwksGeneration: number | null;
}

export interface TokenVerifierOptions {
  /** True for a principal whose token was revoked (checked on every call, cached tokens included). */
  isRevoked?: (principal: Principal) => boolean;
  /** A JWKS fetch failed (logged by the caller; once per outage). */
  onJwksError?: (err: unknown) => void;
}

export async function createTokenVerifier(jwt: Config['jwt'], opts: TokenVerifierOptions = {}): Promise<TokenVerifier> {
  // Imported once: jose would otherwise import a raw secret into WebCrypto on every verification.
  const secret = jwt.secret
    ? await crypto.subtle.importKey('raw', new TextEncoder().encode(jwt.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
    : null;
  const publicKey = jwt.publicKey ? await importPublicKey(jwt.publicKey.replace(/\\n/g, '\n')) : null;
  const jwks = jwt.jwksUrl
    ? createJwksKeys(new URL(jwt.jwksUrl), jwt.jwks ?? DEFAULT_JWKS_OPTIONS, { onFetchError: opts.onJwksError })
    : null;
  const algorithms = [
    ...(secret ? ['HS256'] : []),
    ...(publicKey ? [publicKey.alg] : []),
    ...(jwks ? ASYMMETRIC_ALGS : []),
  ];

  /** The key for a token; `viaJwks` records whether the JWKS gave it (the cache must then watch the set). */
  const keyFor = (viaJwks: { used: boolean }): JWTVerifyGetKey => async (header, token) => {
    if (header.alg === 'HS256' && secret) return secret;
    if (publicKey && header.alg === publicKey.alg) return publicKey.key;
    if (jwks) {
      viaJwks.used = true;
      return jwks.getKey(header, token);
    }
    throw new AuthError('algorithm', `Token algorithm ${String(header.alg)} is not accepted`);
  };

  const checkRevoked = (principal: Principal): Principal => {
    if (opts.isRevoked?.(principal)) throw new AuthError('revoked', 'Token revoked: sign in again for a new token');
    return principal;
  };

  // A Map keeps insertion order: the oldest entry is evicted first when the cache is full.
  const cache = new Map<string, CacheEntry>();

  /** A cached principal still good: not expired and, for a JWKS key, the set it was checked against unchanged. */
  async function fromCache(token: string): Promise<Principal | null> {
    const hit = cache.get(token);
    if (!hit) return null;
    if (hit.principal.expiresAtMs !== null && hit.principal.expiresAtMs <= Date.now()) {
      cache.delete(token);
      return null;
    }
    if (hit.jwksGeneration !== null && jwks) {
      await jwks.ensureFresh();
      // The set changed since: its key may have been removed. Verify again against the current set.
      if (hit.jwksGeneration !== jwks.generation) {
        cache.delete(token);
        return null;
      }
    }
    return hit.principal;
  }

  return async (token) => {
    if (!token) throw new AuthError('missing', 'Missing bearer token');
    const cached = await fromCache(token);
    if (cached) return checkRevoked(cached);
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/.test(token)) {
      throw new AuthError('malformed', 'Malformed token');
    }
    let payload: JWTPayload;
    const viaJwks = { used: false };
    try {
      ({ payload } = await jwtVerify(token, keyFor(viaJwks), {
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
      issuedAtMs: typeof payload.iat === 'number' ? payload.iat * 1000 : null,
    };
    // Tokens that are not yet valid (nbf) are not cached: they are rare and time-dependent.
    if (payload.nbf === undefined) {
      if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
      cache.set(token, { principal, jwksGeneration: viaJwks.used && jwks ? jwks.generation : null });
    }
    return checkRevoked(principal);
  };
}

function toAuthError(err: unknown): AuthError {
  if (err instanceof AuthError) return err;
  if (err instanceof JwksUnavailableError) return new AuthError('unavailable', err.message);
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
