/**
 * Token revocation, as each instance holds it: the revocations table in memory, so checking a
 * token costs a Map lookup and no database round trip. Loaded at start-up, updated by the bus's
 * control messages (every instance hears each revocation), reloaded after a bus reconnect (a
 * message sent while this instance was cut off is lost; the table is not).
 *
 * The rule: a token of a revoked user is refused when it was issued (`iat`) before the revocation,
 * or has no `iat` at all (nothing tells when it was issued). `iat` counts whole seconds, so a token
 * issued in the same second as the revocation, just after it, is refused too: its holder gets the
 * next one a second later. Refusing a fresh token for a moment is the safe side of that rounding.
 * The revocation time is the answering instance's clock and `iat` the issuer's: keep them in sync
 * (NTP), or a token issued just before the revocation by a fast issuer clock passes.
 */
import type { Logger } from 'pino';
import type { Revocation, Storage } from '../../ports/storage.js';

export interface Revocations {
  /** True when this principal's token was issued before its user's revocation (or without `iat`). */
  isRevoked(principal: { userId: string; issuedAtMs: number | null }): boolean;
  /** Record a revocation; true when it is newer than what this instance knew. */
  apply(userId: string, notBeforeMs: number): boolean;
  /** Read the table again; returns the users whose revocation was new to this instance. */
  load(): Promise<string[]>;
  /** How many users are revoked (for tests and stats). */
  readonly size: number;
}

export function createRevocations(deps: { storage: Pick<Storage, 'listRevocations'>; log: Logger }): Revocations {
  const notBefore = new Map<string, number>();

  function apply(userId: string, notBeforeMs: number): boolean {
    const known = notBefore.get(userId);
    if (known !== undefined && known >= notBeforeMs) return false;
    notBefore.set(userId, notBeforeMs);
    return true;
  }

  return {
    isRevoked({ userId, issuedAtMs }) {
      const nb = notBefore.get(userId);
      return nb !== undefined && (issuedAtMs === null || issuedAtMs < nb);
    },
    apply,
    async load() {
      const rows: Revocation[] = await deps.storage.listRevocations();
      const changed = rows.filter((r) => apply(r.userId, r.notBefore.getTime())).map((r) => r.userId);
      if (changed.length > 0) deps.log.info({ count: changed.length, total: notBefore.size }, 'revocations loaded');
      return changed;
    },
    get size() {
      return notBefore.size;
    },
  };
}
