/**
 * k6: the multi-device scenario. Each iteration is one user session in one VU: N observer devices
 * (WebSockets on the global event loop, so one VU holds several) and one writer posting draft creates
 * with `http.asyncRequest` (a write never blocks the socket handlers). Writes are due on a fixed
 * schedule inside the session; fan-out latency = arrival on an observer minus the write's due time
 * (Date.now(), one clock: ms resolution). Sessions start open-model (constant-arrival-rate), so a
 * slow service gets more concurrent sessions, not fewer writes.
 *
 * Thresholds: fanout_latency p(99)<100 ms and no missing event; a miss makes k6 exit with 99.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:3000 -e JWT_SECRET=… loadtest/k6/multi-device.ts
 *     [-e SESSIONS_PER_SEC=2 -e DURATION=1m -e OBSERVERS=3 -e WRITES=10 -e WRITE_INTERVAL_MS=200 -e OUT_DIR=loadtest/results]
 *
 * WebSocket module: `k6/experimental/websockets`, served by k6 1.x and 2.x (deprecated alias of
 * `k6/websockets`, same API); if your k6 no longer has it, change the import to `k6/websockets`.
 */
import exec from 'k6/execution';
import { WebSocket } from 'k6/experimental/websockets';
import http from 'k6/http';
import { Counter, Trend } from 'k6/metrics';
import { setTimeout } from 'k6/timers';
// @ts-expect-error -- k6 resolves module files literally, so the .ts extension must stay (TS refuses it without allowImportingTsExtensions)
import { tokenFor } from './lib/jwt.ts';
// @ts-expect-error -- k6 resolves module files literally, so the .ts extension must stay (TS refuses it without allowImportingTsExtensions)
import { jUnit, textSummary, type SummaryData } from './lib/summary.ts';

const BASE_URL = (__ENV.BASE_URL ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
const WS_URL = `${BASE_URL.replace(/^http/, 'ws')}/ws/realtime`;
const OBSERVERS = Number(__ENV.OBSERVERS ?? 3);
const WRITES = Number(__ENV.WRITES ?? 10);
const WRITE_INTERVAL_MS = Number(__ENV.WRITE_INTERVAL_MS ?? 200);
const SESSIONS_PER_SEC = Number(__ENV.SESSIONS_PER_SEC ?? 2);
const DURATION = __ENV.DURATION ?? '1m';
const OUT_DIR = __ENV.OUT_DIR ?? 'loadtest/results';
const GRACE_MS = 3000;

const fanout = new Trend('fanout_latency', true);
const missing = new Counter('fanout_missing');
const delivered = new Counter('fanout_delivered');
const writeErrors = new Counter('write_errors');
const connectErrors = new Counter('observer_connect_errors');

export const options = {
  scenarios: {
    multi_device: {
      executor: 'constant-arrival-rate',
      rate: SESSIONS_PER_SEC,
      timeUnit: '1s',
      duration: DURATION,
      // A session lasts about WRITES × WRITE_INTERVAL_MS + grace; enough VUs for the overlap, and more if slow.
      preAllocatedVUs: Math.ceil(SESSIONS_PER_SEC * ((WRITES * WRITE_INTERVAL_MS + GRACE_MS) / 1000 + 2)),
      maxVUs: Math.ceil(SESSIONS_PER_SEC * ((WRITES * WRITE_INTERVAL_MS + GRACE_MS) / 1000 + 2)) * 4,
    },
  },
  thresholds: {
    fanout_latency: ['p(99)<100'],
    fanout_missing: ['count==0'],
    write_errors: ['count==0'],
    observer_connect_errors: ['count==0'],
  },
};

interface Frame {
  type: string;
  payload?: { draftId?: string };
}

export function setup(): { run: string } {
  const res = http.get(`${BASE_URL}/readyz`);
  if (res.status !== 200) throw new Error(`${BASE_URL}/readyz answered ${res.status}`);
  return { run: `${Date.now().toString(36)}` };
}

const uuid = (): string =>
  'xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx'.replace(/[xy]/g, (c) => {
    const r = (Math.random() * 16) | 0;
    return (c === 'x' ? r : (r & 0x3) | 0x8).toString(16);
  });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export default async function session(data: { run: string }): Promise<void> {
  const user = `k6-${data.run}-${exec.scenario.iterationInTest}`;
  const token = tokenFor(user);
  const due = new Map<string, number>();
  const seen = new Map<string, number>();
  const sockets: WebSocket[] = [];

  // Observers: wait for every HELLO before the first write.
  await Promise.all(
    Array.from({ length: OBSERVERS }, (_, d) => {
      return new Promise<void>((resolve) => {
        const ws = new WebSocket(`${WS_URL}?deviceId=observer-${d}`, null, { headers: { Authorization: `Bearer ${token}` } });
        sockets.push(ws);
        let helloSeen = false;
        ws.onmessage = (ev) => {
          const at = Date.now();
          const f = JSON.parse(String(ev?.data)) as Frame;
          if (f.type === 'HELLO' && !helloSeen) {
            helloSeen = true;
            resolve();
            return;
          }
          const id = f.type === 'DRAFT_CREATED' ? f.payload?.draftId : undefined;
          const t = id ? due.get(id) : undefined;
          if (id && t !== undefined) {
            fanout.add(at - t);
            delivered.add(1);
            seen.set(id, (seen.get(id) ?? 0) + 1);
          }
        };
        ws.onerror = () => {
          if (!helloSeen) {
            connectErrors.add(1);
            resolve();
          }
        };
      });
    }),
  );

  // The writer: WRITES draft creates, each due at start + k × interval, sent without blocking.
  const start = Date.now();
  const requests: Promise<void>[] = [];
  for (let k = 0; k < WRITES; k += 1) {
    const wait = start + k * WRITE_INTERVAL_MS - Date.now();
    if (wait > 0) await sleep(wait);
    const id = uuid();
    due.set(id, start + k * WRITE_INTERVAL_MS);
    const body = JSON.stringify({ id, customerId: 'C-1', customerName: 'k6', items: [{ productId: 'P-1', quantity: 1 }], updatedAt: new Date().toISOString() });
    requests.push(
      http
        .asyncRequest('POST', `${BASE_URL}/api/drafts`, body, {
          headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'X-Device-Id': 'k6-writer' },
          tags: { name: 'POST /api/drafts' },
        })
        .then((res) => {
          if (res.status !== 201) {
            writeErrors.add(1);
            due.delete(id);
          }
        }),
    );
  }
  await Promise.all(requests);

  // Wait for stragglers, then count what never came.
  const deadline = Date.now() + GRACE_MS;
  const complete = () => [...due.keys()].every((id) => (seen.get(id) ?? 0) >= OBSERVERS);
  while (!complete() && Date.now() < deadline) await sleep(20);
  let lost = 0;
  for (const id of due.keys()) lost += Math.max(0, OBSERVERS - (seen.get(id) ?? 0));
  missing.add(lost);
  for (const ws of sockets) ws.close();
}

export function handleSummary(data: SummaryData): Record<string, string> {
  return {
    stdout: textSummary(data, { indent: ' ' }),
    [`${OUT_DIR}/k6-multi-device.json`]: JSON.stringify(data, null, 2),
    [`${OUT_DIR}/k6-multi-device.junit.xml`]: jUnit(data, { name: 'k6 multi-device' }),
  };
}
