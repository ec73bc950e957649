/**
 * DESIGN §5: under pressure, transient progress events for the same job are coalesced to the latest
 * value and dropped first; stored events are never dropped (the slow-consumer rule applies to them).
 *
 * Devices whose sockets stopped reading (their send buffers far over the transient mark) and one
 * that reads: every device gets every stored event once and in order; the one that reads gets every
 * progress value; each stalled one, once it reads again, gets exactly the latest value of each job,
 * after the stored events sent meanwhile. The events are published as the submit job publishes them
 * (the hub's publisher), so the frames are the service's own, encoded once for every socket.
 * Storage plays no part here: one storage variant. (A socket that is catching up parks them too:
 * paced-replay.e2e.test.ts.)
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connection } from '../src/realtime/connection.js';
import { sleep, startService, type TestDevice, type TestService } from './support/harness.js';

const rawSocket = (d: TestDevice) => (d.ws as unknown as { _socket: Socket })._socket;
const MARK = 64 * 1024;

describe('transient progress under pressure', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService({
      storage: 'pglite',
      // The slow-consumer limit far above what the test buffers: only the transient mark is crossed.
      env: { WS_TRANSIENT_DROP_BYTES: String(MARK), WS_SEND_BUFFER_LIMIT_BYTES: String(512 * 1024 * 1024) },
    });
  });
  afterAll(async () => {
    await svc?.close();
  });

  /** Commit one event and publish it, as a job step does (commit.events). */
  async function stored(userId: string, payload: unknown): Promise<number> {
    const events = await svc.storage.appendEvent(userId, { type: 'JOB_STARTED', payload, originDeviceId: null });
    svc.app.hub.publishStored(events);
    return events.at(-1)!.seq;
  }

  it('a stalled socket keeps the latest progress per job and gets it once it drains; stored events all arrive, in order', async () => {
    const u = `u-${randomUUID()}`;
    const conn = (deviceId: string): Connection => svc.app.hub.allConnections().find((c) => c.userId === u && c.deviceId === deviceId)!;
    const [slow1, slow2, fast] = (await Promise.all(['slow-1', 'slow-2', 'fast'].map((id) => svc.device(u, id)))) as [TestDevice, TestDevice, TestDevice];
    await Promise.all([slow1, slow2, fast].map((d) => d.waitForType('HELLO')));
    const slow = [slow1, slow2];
    for (const d of slow) rawSocket(d).pause(); // these devices stop reading

    // Big stored events until both stalled sockets hold far more unsent data than the mark.
    const big = { orderId: 'o', blob: 'x'.repeat(1024 * 1024) };
    let seq = 0;
    for (let i = 0; i < 80 && !slow.every((d) => conn(d.device.deviceId).bufferedBytes > 4 * MARK); i += 1) {
      seq = await stored(u, big);
      await sleep(10);
    }
    expect(slow.map((d) => conn(d.device.deviceId).bufferedBytes > 4 * MARK)).toEqual([true, true]);
    await fast.waitForSeq(seq, 30_000);
    const bufferedBefore = slow.map((d) => conn(d.device.deviceId).bufferedBytes);

    // Progress of two jobs, 50 values each, with stored events among them.
    const jobs = ['job-a', 'job-b'];
    const progress = Array.from({ length: 50 }, (_, i) => (i + 1) / 50);
    for (const [i, p] of progress.entries()) {
      for (const jobId of jobs) svc.app.hub.publisher.publishTransient(u, 'JOB_PROGRESS', { jobId, orderId: `o-${jobId}`, progress: p, stage: 'erp' }, null);
      if (i % 10 === 9) seq = await stored(u, { orderId: 'o', n: i });
    }
    const lastSeq = seq;
    // The device that reads gets every value (under the mark nothing is coalesced).
    await fast.waitFor((fs) => fs.filter((f) => f.type === 'JOB_PROGRESS').length >= 100, 10_000, '100 JOB_PROGRESS');
    await fast.waitForSeq(lastSeq, 10_000);

    // Each stalled socket parked one frame per job, the latest; the stored events went on (not held).
    for (const d of slow) {
      const c = conn(d.device.deviceId);
      expect([...c.parked.keys()].sort()).toEqual(['JOB_PROGRESS:job-a', 'JOB_PROGRESS:job-b']);
      expect([...c.parked.values()].map((p) => JSON.parse(p.bytes.toString()).payload.progress)).toEqual([1, 1]);
      expect(c.sentSeq).toBe(lastSeq);
    }
    expect(slow.every((d, i) => conn(d.device.deviceId).bufferedBytes >= bufferedBefore[i]!)).toBe(true);
    // Parking holds the frame every socket shares, not a copy per socket.
    const [p1, p2] = slow.map((d) => conn(d.device.deviceId).parked.get('JOB_PROGRESS:job-a')!.bytes);
    expect(p1).toBe(p2);

    for (const d of slow) rawSocket(d).resume();
    for (const d of slow) {
      await d.waitFor((fs) => fs.filter((f) => f.type === 'JOB_PROGRESS').length >= 2, 30_000, 'the parked progress');
    }
    await sleep(200); // anything else that would still come
    for (const d of slow) {
      expect(d.closeCode).toBeNull();
      expect(d.events().map((e) => e.seq)).toEqual(Array.from({ length: lastSeq }, (_, i) => i + 1));
      const got = d.ofType('JOB_PROGRESS').map((f) => [f.payload.jobId, f.payload.progress]);
      expect(got.sort()).toEqual([['job-a', 1], ['job-b', 1]]);
      // They gave way: every stored event sent meanwhile came first.
      const types = d.frames.map((f) => f.type);
      expect(types.indexOf('JOB_PROGRESS')).toBeGreaterThan(d.frames.findIndex((f) => f.seq === lastSeq));
      expect(conn(d.device.deviceId).parked.size).toBe(0);
    }
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    const dropped = Number(/^rt_transient_events_dropped_total(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1]);
    expect(dropped).toBeGreaterThanOrEqual(2 * 2 * 49); // two sockets, two jobs, 49 superseded values each
    expect(fast.closeCode).toBeNull();
  }, 120_000);
});
