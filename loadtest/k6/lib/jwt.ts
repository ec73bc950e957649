/**
 * HS256 JWTs minted inside k6 (k6/crypto + k6/encoding, present in every k6 1.x and 2.x), so a run
 * needs only the service's JWT_SECRET, never a list of tokens. Alternatively pass TOKEN (one token
 * for every virtual user; fine for the soak, not for per-user fan-out).
 */
import crypto from 'k6/crypto';
import encoding from 'k6/encoding';

const b64 = (s: string): string => encoding.b64encode(s, 'rawurl');

export function mintToken(secret: string, sub: string, ttlSec = 3600): string {
  const now = Math.floor(Date.now() / 1000);
  const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64(JSON.stringify({ sub, iat: now, exp: now + ttlSec }));
  const sig = crypto.hmac('sha256', secret, `${head}.${body}`, 'base64rawurl');
  return `${head}.${body}.${sig}`;
}

/** JWT_SECRET → a fresh token for `sub`; else TOKEN; else fail loudly. */
export function tokenFor(sub: string): string {
  if (__ENV.JWT_SECRET) return mintToken(__ENV.JWT_SECRET, sub);
  if (__ENV.TOKEN) return __ENV.TOKEN;
  throw new Error('set -e JWT_SECRET=<the service secret> (or -e TOKEN=<a JWT>)');
}
