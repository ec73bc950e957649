/**
 * Minting HS256 tokens the service accepts (DESIGN §3: `sub`, optional `role: admin`, `exp`), for
 * the throwaway services that tests, load tests and the latency gate start. `TEST_SECRET` is the
 * JWT_SECRET those services run with; it signs nothing outside this machine.
 */
import { SignJWT } from 'jose';

export const TEST_SECRET = 'test-secret-0123456789-0123456789-abcdef';

export interface MintOptions {
  admin?: boolean;
  /** Lifetime in seconds (may be negative: an expired token). Default one hour. */
  ttlSec?: number;
  secret?: string;
  /** Header alg; anything but HS256 is refused by the service (for tests of that). */
  alg?: string;
}

export async function mintToken(userId: string, opts: MintOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(opts.admin ? { role: 'admin' } : {})
    .setProtectedHeader({ alg: opts.alg ?? 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.ttlSec ?? 3600))
    .sign(new TextEncoder().encode(opts.secret ?? TEST_SECRET));
}
