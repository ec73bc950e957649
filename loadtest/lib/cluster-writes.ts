/**
 * The writes of cluster-scale.ts: one `POST /api/drafts` per listed user, open loop at a fixed rate
 * (write k is due at t0 + k / rate whether or not the earlier ones answered, DESIGN §8), spread over
 * the live instances (user u → instance u mod n), through one undici pool per instance. A draft's
 * `notes` carries its round and due time, so the devices measure due → arrival. Bare undici, not the
 * client library's REST client: the writer shares 2 cores with everything it measures, and the
 * figure wanted here is the fan-out, not the client's cost.
 */
import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';
import { LatencyHistogram, round, type LatencySummary } from './stats.js';

export interface WriteRound {
  writes: number;
  ok: number;
  statuses: Record<string, number>;
  seconds: number;
  /** The most the writer fell behind its schedule (it holds at most `maxInflight` requests). */
  maxLagMs: number;
  rest: LatencySummary;
}

export interface Writer {
  round(o: { name: string; users: number[]; urls: string[]; rate: number; signal: AbortSignal; onWritten: (user: number) => void }): Promise<WriteRound>;
  close(): Promise<void>;
}

const nowMs = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createWriter(tokenOf: (user: number) => Promise<string>, maxInflight = 256): Writer {
  const pools = new Map<string, Pool>();
  const poolOf = (url: string) => {
    let p = pools.get(url);
    if (!p) pools.set(url, (p = new Pool(url, { connections: 32, keepAliveTimeout: 60_000 })));
    return p;
  };
  return {
    async round({ name, users, urls, rate, signal, onWritten }) {
      const statuses: Record<string, number> = {};
      const rest = new LatencyHistogram();
      let inflight = 0;
      let ok = 0;
      let maxLagMs = 0;
      const pending = new Set<Promise<void>>();
      const t0 = nowMs();
      for (let k = 0; k < users.length && !signal.aborted; k += 1) {
        const due = t0 + (k * 1000) / rate;
        const wait = due - nowMs();
        if (wait > 0) await sleep(wait);
        while (inflight >= maxInflight) await Promise.race(pending);
        maxLagMs = Math.max(maxLagMs, nowMs() - due);
        const user = users[k]!;
        inflight += 1;
        const p = (async () => {
          let status: number | string = 0;
          try {
            const token = await tokenOf(user);
            const r = await poolOf(urls[user % urls.length]!).request({
              method: 'POST',
              path: '/api/drafts',
              headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-device-id': 'scale-writer' },
              body: JSON.stringify({
                id: randomUUID(),
                customerId: 'C-1',
                customerName: 'Scale Srl',
                items: [{ productId: 'P-1', quantity: 1 }],
                notes: `r=${name};due=${due.toFixed(3)}`,
                updatedAt: new Date().toISOString(),
              }),
            });
            status = r.statusCode;
            await r.body.dump();
          } catch (err) {
            status = (err as { code?: string }).code ?? 'error';
          }
          rest.recordMs(nowMs() - due);
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (status === 201) {
            ok += 1;
            onWritten(user);
          }
        })().finally(() => {
          inflight -= 1;
          pending.delete(p);
        });
        pending.add(p);
      }
      await Promise.all(pending);
      return { writes: users.length, ok, statuses, seconds: round((nowMs() - t0) / 1000), maxLagMs: round(maxLagMs), rest: rest.summary() };
    },
    async close() {
      await Promise.all([...pools.values()].map((p) => p.close()));
    },
  };
}
