/**
 * A little of everything the dashboard shows, against a running service: live deliveries, a replay,
 * a resync, a closed socket, refused tokens, a job that fails for good (the service must run with
 * ERP_FAILURE_RATE=1), so that the labelled series exist. It goes through the client library (the
 * Device for /ws/realtime, the REST client for writes), as a real device would.
 */
import { randomUUID } from 'node:crypto';
import { createNodeDevice } from '../../client/src/node.js';
import type { Device, DeviceEvent } from '../../client/src/realtime.js';
import { createRestClient } from '../../client/src/rest.js';

/** Service env for `trafficRound`: a failing ERP with short retries. */
export const TRAFFIC_ENV = { ERP_FAILURE_RATE: '1', JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '20', ERP_DELAY_MS: '5' };

/** What the traffic needs of the service: its base URL and tokens it accepts (the test harness's TestService fits). */
export interface TrafficTarget {
  url: string;
  token(userId: string): Promise<string>;
}

const draft = () => ({ id: randomUUID(), customerId: 'C-1', customerName: 'Rossi Srl', items: [{ productId: 'P-1', quantity: 2, price: 10.5 }] });

interface Watcher {
  device: Device;
  events: DeviceEvent[];
  until(pred: (events: DeviceEvent[]) => boolean, what: string, timeoutMs?: number): Promise<void>;
}

/** A connected device of `userId` that keeps what it is delivered; resolves after its HELLO. */
async function watcher(svc: TrafficTarget, userId: string, deviceId: string, lastSeq?: number): Promise<Watcher> {
  const device = createNodeDevice({ urls: [svc.url], deviceId, token: await svc.token(userId), lastSeq, maxInitialAttempts: 1 });
  const events: DeviceEvent[] = [];
  const checks = new Set<() => void>();
  device.on('event', (e) => {
    events.push(e);
    for (const c of [...checks]) c();
  });
  const hello = device.once('hello');
  const stopped = device.once('stopped').then(({ error }) => {
    throw new Error(`${deviceId} stopped: ${error?.message ?? 'closed'}`);
  });
  device.start();
  await Promise.race([hello, stopped]);
  const until = (pred: (events: DeviceEvent[]) => boolean, what: string, timeoutMs = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => (checks.delete(check), reject(new Error(`${deviceId}: timed out waiting for ${what}`))), timeoutMs);
      const check = () => {
        if (!pred(events)) return;
        clearTimeout(t);
        checks.delete(check);
        resolve();
      };
      checks.add(check);
      check();
    });
  return { device, events, until };
}

const reached = (seq: number) => (events: DeviceEvent[]) => events.some((e) => e.seq !== null && e.seq >= seq);

export async function trafficRound(svc: TrafficTarget): Promise<void> {
  const user = `dash-${randomUUID().slice(0, 8)}`;
  const api = createRestClient({ url: svc.url, getToken: () => svc.token(user), deviceId: 'writer' });
  const watch = await watcher(svc, user, 'watcher');
  const opened: Device[] = [watch.device];
  try {
    const drafts = [draft(), draft(), draft()];
    for (const d of drafts) await api.drafts.create(d);
    await api.drafts.remove(drafts[0]!.id);
    await api.drafts.list();
    await watch.until(reached(4), 'seq 4');

    // A device that was away gets the missed events from the ring buffer; one that claims a seq
    // the log has not reached is told to resync; one closes normally.
    const late = await watcher(svc, user, 'late', 0);
    opened.push(late.device);
    await late.until(reached(4), 'the replay up to seq 4');
    const ahead = createNodeDevice({ urls: [svc.url], deviceId: 'ahead', token: await svc.token(user), lastSeq: 9_999 });
    opened.push(ahead);
    const resync = ahead.once('resync');
    ahead.start();
    await resync;
    await late.device.close();

    // Refused tokens, over HTTP and on the upgrade.
    const bad = await fetch(`${svc.url}/api/drafts`, { headers: { authorization: 'Bearer not-a-jwt' } });
    if (bad.status !== 401) throw new Error(`expected 401 for a bad token, got ${bad.status}`);
    const intruder = createNodeDevice({ urls: [svc.url], deviceId: 'intruder', token: 'not-a-jwt', maxInitialAttempts: 1 });
    opened.push(intruder);
    const refused = Promise.race([intruder.once('open').then(() => 'open' as const), intruder.once('stopped').then(() => 'stopped' as const)]);
    intruder.start();
    const outcome = await refused;
    if (outcome === 'open') throw new Error('a bad token was accepted on the upgrade');

    // A pending order submitted to an ERP that always fails: JOB_FAILED per attempt, then failed for good.
    const order = draft();
    await api.pendingOrders.upsert([order]);
    await api.pendingOrders.submit(order.id);
    await watch.until(
      (es) => es.some((e) => e.type === 'JOB_FAILED' && (e.payload as { willRetry?: boolean }).willRetry === false),
      'final JOB_FAILED',
    );
  } finally {
    await Promise.all(opened.map((d) => d.close()));
  }
}

/** Draft writes observed by a connected device, for `ms`: keeps rates and latency histograms moving. */
export async function steadyWrites(svc: TrafficTarget, ms: number, everyMs = 100): Promise<number> {
  const user = `steady-${randomUUID().slice(0, 8)}`;
  const api = createRestClient({ url: svc.url, getToken: () => svc.token(user), deviceId: 'writer' });
  const watch = await watcher(svc, user, 'watcher');
  try {
    const end = Date.now() + ms;
    let n = 0;
    while (Date.now() < end) {
      await api.drafts.create(draft());
      n++;
      await new Promise((r) => setTimeout(r, everyMs));
    }
    await watch.until(reached(n), `seq ${n}`);
    return n;
  } finally {
    await watch.device.close();
  }
}
