/**
 * After a run: delete everything the synthetic users own, their drafts and pending orders, as the
 * server lists them (a deleted draft stays as a tombstone, as with any delete). A list or delete
 * that fails is counted, not thrown: it does not change the gate's verdict.
 */
import type { GateHttp } from './http.js';

export interface CleanupOptions {
  http: GateHttp;
  /** The first --url: lists and deletes all go there. */
  url: string;
  users: number;
  token: (user: number) => Promise<string>;
}

export async function cleanupUsers({ http, url, users, token }: CleanupOptions): Promise<{ deleted: number; failed: number }> {
  let deleted = 0;
  let failed = 0;
  const call = async (user: number, method: string, path: string) =>
    http.request(url, path, { method, headers: { authorization: `Bearer ${await token(user)}` }, timeoutMs: 10_000 });
  const del = async (user: number, path: string) => {
    try {
      const res = await call(user, 'DELETE', path);
      if ((res.status >= 200 && res.status < 300) || res.status === 404) deleted += 1;
      else failed += 1;
    } catch {
      failed += 1;
    }
  };
  const list = async (user: number, path: string): Promise<string[]> => {
    try {
      const res = await call(user, 'GET', path);
      // Nothing listed is nothing deleted: a failed list itself counts as a failure.
      if (res.status < 200 || res.status >= 300) {
        failed += 1;
        return [];
      }
      return ((res.body as { items?: { id: string }[] } | null)?.items ?? []).map((i) => i.id);
    } catch {
      failed += 1;
      return [];
    }
  };
  await pool(users, 8, async (user) => {
    const drafts = await list(user, '/api/drafts');
    const orders = await list(user, '/api/pending-orders');
    for (const id of drafts) await del(user, `/api/drafts/${id}`);
    for (const id of orders) await del(user, `/api/pending-orders/${id}`);
  });
  return { deleted, failed };
}

async function pool(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}
