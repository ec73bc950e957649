/**
 * A little of everything the dashboard shows, against a test service: live deliveries, a replay,
 * a resync, a closed socket, refused tokens, a job that fails for good (the service must run with
 * ERP_FAILURE_RATE=1), so that the labelled series exist.
 */
import { randomUUID } from 'node:crypto';
import { newDraft, TestDevice, type TestService } from '../../service/test/support/harness.js';

/** Service env for `trafficRound`: a failing ERP with short retries. */
export const TRAFFIC_ENV = { ERP_FAILURE_RATE: '1', JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '20', ERP_DELAY_MS: '5' };

export async function trafficRound(svc: TestService): Promise<void> {
  const user = `dash-${randomUUID().slice(0, 8)}`;
  const api = svc.api(user, { deviceId: 'writer' });
  const watcher = await svc.device(user, 'watcher');
  await watcher.waitForType('HELLO');

  const drafts = [newDraft(), newDraft(), newDraft()];
  for (const d of drafts) expect2xx(await api.post('/api/drafts', d), 'POST /api/drafts');
  expect2xx(await api.del(`/api/drafts/${drafts[0]!.id}`), 'DELETE /api/drafts/:id');
  expect2xx(await api.get('/api/drafts'), 'GET /api/drafts');
  await watcher.waitForSeq(4);

  // A device that was away gets the missed events from the ring buffer; one that claims a seq
  // the log has not reached is told to resync; one closes normally.
  const late = await svc.device(user, 'late', { lastSeq: 0 });
  await late.waitForSeq(4);
  const ahead = await svc.device(user, 'ahead', { lastSeq: 9_999 });
  await ahead.waitForType('RESYNC_REQUIRED');
  await late.close();

  // Refused tokens, over HTTP and on the upgrade.
  const bad = await fetch(`${svc.url}/api/drafts`, { headers: { authorization: 'Bearer not-a-jwt' } });
  if (bad.status !== 401) throw new Error(`expected 401 for a bad token, got ${bad.status}`);
  await TestDevice.connect(svc.wsUrl, 'not-a-jwt', { deviceId: 'intruder' }).then(
    (d) => {
      d.terminate();
      throw new Error('a bad token was accepted on the upgrade');
    },
    () => undefined,
  );

  // A pending order submitted to an ERP that always fails: JOB_FAILED per attempt, then failed for good.
  const order = newDraft();
  expect2xx(await api.post('/api/pending-orders', { orders: [order] }), 'POST /api/pending-orders');
  expect2xx(await api.post(`/api/pending-orders/${order.id}/submit`), 'POST /api/pending-orders/:id/submit');
  await watcher.waitFor((fs) => fs.some((f) => f.type === 'JOB_FAILED' && f.payload.willRetry === false), 10_000, 'final JOB_FAILED');
}

/** Draft writes observed by a connected device, for `ms`: keeps rates and latency histograms moving. */
export async function steadyWrites(svc: TestService, ms: number, everyMs = 100): Promise<number> {
  const user = `steady-${randomUUID().slice(0, 8)}`;
  const api = svc.api(user, { deviceId: 'writer' });
  const watcher = await svc.device(user, 'watcher');
  await watcher.waitForType('HELLO');
  const end = Date.now() + ms;
  let n = 0;
  while (Date.now() < end) {
    expect2xx(await api.post('/api/drafts', newDraft()), 'POST /api/drafts');
    n++;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  await watcher.waitForSeq(n);
  return n;
}

function expect2xx(res: { status: number; body: unknown }, what: string): void {
  if (res.status < 200 || res.status > 299) throw new Error(`${what}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
}
