/**
 * REST writes under autocannon at a fixed rate, with observer devices measuring fan-out meanwhile.
 *
 * Rate control: one autocannon connection per user (each with its own token, set in `setupClient`,
 * so writes do not queue on one user's log row lock) and `connectionRate: 1`. Autocannon's rate
 * limiter is a 1-second window per connection: a connection sends when its window opens, or, if the
 * previous response is still outstanding then, right after it (late). So with 1 request per window
 * each request has a well-defined due time, the opening of its window, and:
 *   - autocannon's own latency histogram is corrected for coordinated omission (its default when a
 *     rate is set; note that it corrects with an expected interval of ceil(1/rate) = 1 ms, which
 *     adds synthetic samples for any response slower than 1 ms: a pessimistic correction);
 *   - we also measure REST and fan-out latency from each request's due time on our own HDR
 *     histograms (a request sent late because the previous one was slow carries its lateness).
 * Window openings are the time a request is built while the connection is idle (sent from
 * autocannon's window timer); a request built synchronously in a response callback was late, and is
 * due one second after the previous window opened.
 *
 * All connections of one autocannon instance open their windows together, which would make the load
 * one burst of `rate` writes per second. So the connections are split over up to 10 instances
 * started 1000/10 ms apart (`skipAggregateResult` + `autocannon.aggregateResult`, the documented way
 * to combine instances): arrivals come in 10 small bursts per second.
 */
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { closeAll, connectObservers, FanoutTracker, type FanoutCounters } from './observers.js';
import { mintToken } from './service.js';
import { LatencyHistogram, round, type LatencySummary } from './stats.js';
import { createDraftWriter } from './writes.js';

export type RestKind = 'draft-create' | 'draft-update' | 'pending-batch';

export interface RestScenarioOptions {
  url: string;
  kind: RestKind;
  /** Orders per batch (pending-batch only). */
  batch?: number;
  /** Total writes per second (= autocannon connections = users, one request per second each). */
  rate: number;
  seconds: number;
  observersPerUser: number;
  /** Leading seconds whose writes are not measured (still counted for missing events). */
  warmupSeconds?: number;
}

export interface RestScenarioReport {
  scenario: string;
  kind: RestKind;
  batch: number | null;
  rate: number;
  seconds: number;
  users: number;
  observersPerUser: number;
  rest: {
    autocannon: { p50: number; p90: number; p99: number; p99_9: number; max: number; mean: number; correctedForCoordinatedOmission: true };
    fromSchedule: LatencySummary;
    requests: number;
    throughputPerSec: number;
    errors: number;
    timeouts: number;
    non2xx: number;
  };
  fanout: LatencySummary & { basis: string; cdf: [number, number][] };
  counters: FanoutCounters;
  harness: { maxSendLatenessMs: number };
}

const ORDER = { customerId: 'C-1', customerName: 'Bench Srl', items: [{ productId: 'P-1', quantity: 2, price: 10.5 }] };

/** `autocannon.aggregateResult` is documented but missing from @types/autocannon. */
const aggregate = (autocannon as unknown as { aggregateResult(r: autocannon.Result[], o: { url: string; connections: number }): autocannon.Result }).aggregateResult;

export function scenarioName(kind: RestKind, batch?: number): string {
  return kind === 'pending-batch' ? `pending-batch-${batch ?? 1}` : kind;
}

export async function runRestScenario(o: RestScenarioOptions): Promise<RestScenarioReport> {
  const batch = o.kind === 'pending-batch' ? (o.batch ?? 1) : null;
  const users = await Promise.all(
    Array.from({ length: o.rate }, async () => {
      const userId = `ac-${randomUUID()}`;
      return { userId, token: await mintToken(userId) };
    }),
  );
  // draft-update needs one draft per user to update.
  const draftIds = users.map(() => randomUUID());
  if (o.kind === 'draft-update') {
    const setup = createDraftWriter(o.url, 'setup');
    await Promise.all(
      users.map(async (u, i) => {
        const status = await setup.create(u.token, { id: draftIds[i], ...ORDER, updatedAt: new Date(Date.now() - 60_000).toISOString() });
        if (status !== 201) throw new Error(`setup draft: HTTP ${status}`);
      }),
    );
  }
  const tracker = new FanoutTracker();
  const devices = await connectObservers(o.url, users, o.observersPerUser, tracker);
  const restHist = new LatencyHistogram();
  const warmupMs = (o.warmupSeconds ?? 1) * 1000;
  let maxLateness = 0;
  let nextClient = 0;
  const started = performance.now();

  try {
    const groups = Math.min(o.rate, 10);
    const setupClient = (client: autocannon.Client): void => {
        const idx = nextClient++;
        const u = users[idx % users.length]!;
        const base = Date.now();
        let n = 0;
        let windowAt = performance.now();
        let respondedAt = -1;
        client.setRequests([
          {
            method: o.kind === 'draft-update' ? 'PUT' : 'POST',
            path: o.kind === 'draft-update' ? `/api/drafts/${draftIds[idx]}` : o.kind === 'draft-create' ? '/api/drafts' : '/api/pending-orders',
            setupRequest(req, context) {
              const now = performance.now();
              // Built in the response callback (same tick) = late: due when its window opened.
              if (n > 0) windowAt = respondedAt === now || now - respondedAt < 0.05 ? windowAt + 1000 : now;
              const due = windowAt;
              maxLateness = Math.max(maxLateness, now - due);
              const key = randomUUID();
              const measured = due - started >= warmupMs;
              const ctx = context as { due?: number; key?: string };
              ctx.due = due;
              ctx.key = key;
              n += 1;
              let body: unknown;
              if (o.kind === 'draft-create') body = { id: key, ...ORDER, updatedAt: new Date(base + n).toISOString() };
              else if (o.kind === 'draft-update') body = { ...ORDER, notes: key, updatedAt: new Date(base + n).toISOString() };
              else body = { orders: Array.from({ length: batch! }, (_, j) => ({ id: j === 0 ? key : randomUUID(), ...ORDER, updatedAt: new Date(base + n).toISOString() })) };
              tracker.expect(key, due, o.observersPerUser, measured);
              return {
                ...req,
                headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/json', 'x-device-id': 'ac-writer' },
                body: JSON.stringify(body),
              };
            },
            onResponse(status, _body, context) {
              const now = performance.now();
              respondedAt = now;
              const ctx = context as { due?: number; key?: string };
              if (ctx.due !== undefined && ctx.due - started >= warmupMs) restHist.recordMs(now - ctx.due);
              if ((status < 200 || status >= 300) && ctx.key) tracker.forget(ctx.key);
            },
          },
        ]);
    };
    const instances = Array.from({ length: groups }, async (_, g) => {
      const connections = Math.floor(o.rate / groups) + (g < o.rate % groups ? 1 : 0);
      await new Promise((r) => setTimeout(r, (g * 1000) / groups));
      return autocannon({
        url: o.url,
        connections,
        connectionRate: 1,
        amount: connections * o.seconds,
        timeout: 10,
        skipAggregateResult: true,
        setupClient,
      });
    });
    const result = aggregate(await Promise.all(instances), { url: o.url, connections: o.rate });
    await tracker.settle(5000);
    const counters = tracker.counters();
    return {
      scenario: scenarioName(o.kind, o.batch),
      kind: o.kind,
      batch,
      rate: o.rate,
      seconds: o.seconds,
      users: users.length,
      observersPerUser: o.observersPerUser,
      rest: {
        autocannon: {
          p50: result.latency.p50,
          p90: result.latency.p90,
          p99: result.latency.p99,
          p99_9: result.latency.p99_9,
          max: result.latency.max,
          mean: round(result.latency.mean),
          correctedForCoordinatedOmission: true,
        },
        fromSchedule: restHist.summary(),
        requests: result.requests.total,
        throughputPerSec: round(result.requests.total / result.duration),
        errors: result.errors,
        timeouts: result.timeouts,
        non2xx: result.non2xx,
      },
      fanout: {
        ...tracker.hist.summary(),
        basis: 'observer receivedAt minus the write’s due time (autocannon window opening), same monotonic clock',
        cdf: tracker.hist.cdf(),
      },
      counters,
      harness: { maxSendLatenessMs: round(maxLateness) },
    };
  } finally {
    await closeAll(devices);
  }
}

export function printRestReport(r: RestScenarioReport, storage: string): void {
  const f = (s: { p50: number; p90: number; p99: number; p99_9: number; max: number }) =>
    `p50 ${s.p50.toFixed(2)}  p90 ${s.p90.toFixed(2)}  p99 ${s.p99.toFixed(2)}  p99.9 ${s.p99_9.toFixed(2)}  max ${s.max.toFixed(2)} ms`;
  console.log(`${r.scenario}: ${r.rate} writes/s for ${r.seconds} s, ${r.users} users (one autocannon connection each), ${r.observersPerUser} observer device(s) per user, ${storage}`);
  console.log(`  REST (autocannon, corrected for coordinated omission): ${f(r.rest.autocannon)}`);
  console.log(`  REST (from each request's due time):                   ${f(r.rest.fromSchedule)}`);
  console.log(`  throughput ${r.rest.throughputPerSec}/s, requests ${r.rest.requests}, errors ${r.rest.errors}, timeouts ${r.rest.timeouts}, non-2xx ${r.rest.non2xx}`);
  console.log(`  fan-out (observer arrival minus due time): p50 ${r.fanout.p50.toFixed(2)}  p99 ${r.fanout.p99.toFixed(2)}  max ${r.fanout.max.toFixed(2)} ms (n=${r.fanout.count}, warm-up excluded)`);
  const c = r.counters;
  console.log(`  deliveries ${c.delivered}/${c.expected}, missing ${c.missing}, duplicates ${c.duplicates}, gaps ${c.gaps}, resyncs ${c.resyncs}`);
  console.log(`  harness: max send lateness ${r.harness.maxSendLatenessMs} ms (a late send is counted in the figures above)`);
}
