/**
 * The keys of an identity provider's JWKS endpoint (JWT_JWKS_URL), fetched on demand as jose's
 * createRemoteJWKSet does (a refetch when the set is older than `cacheMaxAgeMs`, and on an unknown
 * `kid` at most once per `cooldownMs`: key rotation), with what an outage of the endpoint needs and
 * createRemoteJWKSet does not do:
 * - the last set fetched stays in use when a refetch fails (stale-if-error), so tokens of keys
 *   already known keep working while the endpoint is down (jose drops them once the set is stale);
 * - a failed fetch counts for the cooldown too: a dead endpoint is asked at most once per cooldown,
 *   never by every request;
 * - a token whose key cannot be found while the endpoint is failing is `JwksUnavailableError`
 *   (503: the token may be good, retry later), not "no matching key" (401).
 * jose's createLocalJWKSet picks the key from the set (kid, alg, kty, use), as the remote one does.
 */
import { createLocalJWKSet, errors as joseErrors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';

export interface JwksOptions {
  /** Least time between two fetches caused by unknown kids or a failing endpoint (JWT_JWKS_COOLDOWN_MS). */
  cooldownMs: number;
  /** A set older than this is fetched again before use (JWT_JWKS_CACHE_MAX_AGE_MS). */
  cacheMaxAgeMs: number;
  /** One fetch's bound (JWT_JWKS_TIMEOUT_MS). */
  timeoutMs: number;
}

export const DEFAULT_JWKS_OPTIONS: JwksOptions = { cooldownMs: 30_000, cacheMaxAgeMs: 600_000, timeoutMs: 5_000 };

/** The key set cannot be had from the endpoint now; the token was not judged. */
export class JwksUnavailableError extends Error {
  override readonly name = 'JwksUnavailableError';
}

export interface JwksKeys {
  getKey: JWTVerifyGetKey;
  /** Fetch the set if it is stale (and the endpoint was not asked within the cooldown). */
  ensureFresh(): Promise<void>;
  /** Changes each time a fetched set differs from the one before (a verified token's key may be gone). */
  readonly generation: number;
}

export function createJwksKeys(
  url: URL,
  opts: JwksOptions,
  hooks: { onFetchError?: (err: unknown) => void; fetch?: typeof fetch } = {},
): JwksKeys {
  const fetchImpl = hooks.fetch ?? fetch;
  let local: ReturnType<typeof createLocalJWKSet> | null = null;
  let text = '';
  let generation = 0;
  let fetchedAt = -Infinity;
  let attemptedAt = -Infinity;
  let failing = false;
  let pending: Promise<void> | null = null;

  async function fetchSet(): Promise<void> {
    attemptedAt = Date.now();
    try {
      const res = await fetchImpl(url, {
        redirect: 'manual',
        headers: { accept: 'application/json, application/jwk-set+json' },
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
      const body = await res.text();
      if (res.status !== 200) throw new Error(`JWKS endpoint answered HTTP ${res.status}`);
      const next = createLocalJWKSet(JSON.parse(body) as JSONWebKeySet); // throws on a malformed set
      if (body !== text) {
        text = body;
        local = next;
        generation += 1;
      }
      fetchedAt = Date.now();
      failing = false;
    } catch (err) {
      if (!failing) hooks.onFetchError?.(err); // once per outage, not once per cooldown
      failing = true;
    }
  }

  /** One fetch at a time; callers during a fetch wait for it. */
  function refresh(): Promise<void> {
    pending ??= fetchSet().finally(() => {
      pending = null;
    });
    return pending;
  }

  const coolingDown = () => Date.now() - attemptedAt < opts.cooldownMs;

  async function refreshUnlessCooling(): Promise<void> {
    if (pending) return pending;
    if (!coolingDown()) return refresh();
  }

  async function ensureFresh(): Promise<void> {
    if (local && Date.now() - fetchedAt < opts.cacheMaxAgeMs) return;
    return refreshUnlessCooling();
  }

  const unavailable = () => new JwksUnavailableError(`The identity provider's keys (JWT_JWKS_URL) cannot be fetched; retry later`);

  return {
    async getKey(header, token) {
      await ensureFresh();
      if (!local) throw unavailable();
      try {
        return await local(header, token);
      } catch (err) {
        if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw err;
        // An unknown key: perhaps the provider rotated. Ask again, at most once per cooldown.
        await refreshUnlessCooling();
        if (failing) throw unavailable();
        return local(header, token);
      }
    },
    ensureFresh,
    get generation() {
      return generation;
    },
  };
}
