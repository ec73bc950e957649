/**
 * A write refused with 429 over the service's rate limit is retried after the answer's
 * `Retry-After`, not rolled back like another 4xx and not after the queue's own (here very long)
 * backoff; `kick()` does not send it early. Against the real service (PGlite) with a tiny limit.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken, startService, type TestService } from '../../service/test/support/harness.js';
import { createNodeClient } from './node.js';
import { parseRetryAfter } from './rest.js';

const input = (n: number) => ({ customerId: 'C-1', customerName: `Rossi ${n}`, items: [{ productId: 'P-1', quantity: 1 }] });

describe('parseRetryAfter', () => {
  it('reads delay-seconds and HTTP-dates, caps them, and ignores what it cannot read', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('2', now)).toBe(2000);
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0); // in the past: now
    expect(parseRetryAfter('86400', now)).toBe(5 * 60_000);
    expect([null, '', 'soon', '-1', '1.5'].map((v) => parseRetryAfter(v, now))).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });
});

describe('queued writes over the rate limit', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService({ storage: 'pglite', logLevel: 'warn', env: { RATE_LIMIT_WRITES_PER_USER: '2', RATE_LIMIT_WINDOW_MS: '1000' } });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('a 429 is retried after its Retry-After, with the same key: every write lands once, in order', async () => {
    const u = `u-${randomUUID().slice(0, 8)}`;
    // What each write attempt got, seen on the wire: [Idempotency-Key, status, Retry-After, time].
    const attempts: { key: string; status: number; retryAfter: string | null; at: number }[] = [];
    const observed: typeof fetch = async (input, init) => {
      const res = await globalThis.fetch(input, init);
      const key = new Headers(init?.headers).get('idempotency-key');
      if (key) attempts.push({ key, status: res.status, retryAfter: res.headers.get('retry-after'), at: Date.now() });
      return res;
    };
    const client = createNodeClient({
      url: svc.url,
      deviceId: 'phone',
      getToken: () => mintToken(u),
      storage: 'memory',
      fetch: observed,
      // A backoff this long would outlast the test: only Retry-After can bring the retries in time.
      retry: { initialMs: 120_000, maxMs: 120_000 },
    });
    try {
      await client.start();
      const writes = Array.from({ length: 5 }, (_, i) => client.drafts.create(input(i)));
      const kicker = setInterval(() => (client as unknown as { outbox: { kick(): void } }).outbox.kick(), 50);
      let drafts;
      try {
        drafts = await Promise.all(writes);
      } finally {
        clearInterval(kicker);
      }
      expect(drafts.map((d) => d.customerName)).toEqual([0, 1, 2, 3, 4].map((i) => `Rossi ${i}`));
      const listed = (await (await fetch(`${svc.url}/api/drafts`, { headers: { authorization: `Bearer ${await mintToken(u)}` } })).json()) as {
        items: { customerName: string }[];
      };
      expect(listed.items.map((d) => d.customerName).sort()).toEqual([0, 1, 2, 3, 4].map((i) => `Rossi ${i}`));

      // The limit was hit, and every refused attempt was repeated (same key) no sooner than it said.
      const refused = attempts.filter((a) => a.status === 429);
      expect(refused.length).toBeGreaterThan(0);
      for (const r of refused) {
        expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
        const next = attempts.slice(attempts.indexOf(r) + 1).find((a) => a.key === r.key);
        expect(next).toBeDefined();
        expect(next!.at - r.at).toBeGreaterThanOrEqual(Number(r.retryAfter) * 1000 - 50);
      }
      // Each write acknowledged exactly once.
      expect(attempts.filter((a) => a.status === 201).map((a) => a.key)).toHaveLength(5);
      expect(new Set(attempts.filter((a) => a.status === 201).map((a) => a.key)).size).toBe(5);
      expect(client.pendingWrites).toEqual([]);
    } finally {
      await client.stop();
    }
  }, 60_000);
});
