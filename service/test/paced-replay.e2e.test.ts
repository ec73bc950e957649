/**
 * Live events that arrive while a long replay is paced follow it at the same pace, in seq order,
 * once each, never flushed as one burst when the replay ends (replay.ts, delivery.ts `drainQueued`).
 *
 * The device reads at a bounded rate (a slow link: its TCP stream is resumed for a fixed number of
 * bytes per tick), so the kernel's socket buffers stay full and what the server has not written out
 * is what `bufferedAmount` shows. The pacing budget: a frame of a catch-up (replayed or queued live)
 * is handed to the socket only while its unsent bytes are at most WS_SEND_BUFFER_LIMIT_BYTES, so
 * they never exceed the limit plus one frame. A burst of the queued live events would go far past
 * it (and close the healthy device with 4429). Assertions are on ordering and on that bound, with
 * the largest frame as slack, never on time. Storage plays no part here: one storage variant.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connection } from '../src/realtime/connection.js';
import { sleep, startService, TestDevice, type TestService } from './support/harness.js';

const LIMIT = 256 * 1024;
const REPLAY_EVENTS = 32;
const REPLAY_BYTES = 512 * 1024; // per event: 16 MB of replay, more than the kernel's buffers take
const LIVE_EVENTS = 20;
const LIVE_BYTES = 200 * 1024; // per event: 4 MB queued behind the replay, 16 times the limit

/** Let the socket read `bytesPerTick` bytes every `tickMs`, no more: a slow link. Returns the stop. */
function throttleReads(sock: Socket, bytesPerTick: number, tickMs: number): () => void {
  let tickStart = sock.bytesRead;
  const onData = () => {
    if (sock.bytesRead - tickStart >= bytesPerTick) sock.pause();
  };
  sock.on('data', onData);
  const timer = setInterval(() => {
    tickStart = sock.bytesRead;
    sock.resume();
  }, tickMs);
  return () => {
    clearInterval(timer);
    sock.off('data', onData);
    sock.resume();
  };
}

describe('live events behind a paced replay', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService({
      storage: 'pglite',
      env: { WS_SEND_BUFFER_LIMIT_BYTES: String(LIMIT), WS_REPLAY_STALL_MS: '20000', BUFFER_MAX_EVENTS: '1000' },
    });
  });
  afterAll(async () => {
    await svc?.close();
  });

  /** Commit one event and publish it, as a job step does (commit.events). */
  async function stored(userId: string, bytes: number, n: number): Promise<number> {
    const payload = { orderId: `o-${n}`, blob: 'x'.repeat(bytes) };
    const events = await svc.storage.appendEvent(userId, { type: 'JOB_STARTED', payload, originDeviceId: null });
    svc.app.hub.publishStored(events);
    return events.at(-1)!.seq;
  }

  it('queued live events follow the replay in order, once each, within the pacing budget; the device stays connected', async () => {
    const u = `u-${randomUUID()}`;
    for (let i = 0; i < REPLAY_EVENTS; i += 1) await stored(u, REPLAY_BYTES, i);

    const device = await TestDevice.connect(svc.wsUrl, await svc.token(u), { deviceId: 'slow', lastSeq: 0 });
    const stopThrottle = throttleReads((device.ws as unknown as { _socket: Socket })._socket, 128 * 1024, 20);
    await device.waitForType('HELLO', 1, 60_000); // after the replay's read from the log
    const conn = svc.app.hub.allConnections().find((c: Connection) => c.userId === u)!;
    expect(conn).toBeDefined();

    // Watch the server's side of the socket while it catches up.
    let maxBuffered = 0;
    let maxQueued = 0;
    let queuedWhileOverLimit = false;
    const sample = () => {
      maxBuffered = Math.max(maxBuffered, conn.bufferedBytes);
      maxQueued = Math.max(maxQueued, conn.queue.length);
      if (conn.queue.length > 0 && conn.bufferedBytes > LIMIT) queuedWhileOverLimit = true;
    };
    const sampler = setInterval(sample, 1);
    let lastSeq = 0;
    try {
      // The replay is under way and paced (the socket over its limit) before anything live comes.
      for (let i = 0; i < 2_000 && !(conn.syncing && conn.bufferedBytes > LIMIT); i += 1) await sleep(5);
      expect(conn.syncing).toBe(true);

      // Live events, and progress of a job, while the replay is paced: they queue (or park) behind it.
      for (let i = 0; i < LIVE_EVENTS; i += 1) {
        lastSeq = await stored(u, LIVE_BYTES, REPLAY_EVENTS + i);
        svc.app.hub.publisher.publishTransient(u, 'JOB_PROGRESS', { jobId: 'job-1', orderId: 'o', progress: (i + 1) / LIVE_EVENTS, stage: 'erp' }, null);
        sample();
      }
      expect(lastSeq).toBe(REPLAY_EVENTS + LIVE_EVENTS);
      // A burst would close this healthy device with 4429: fail on that at once, not on a timeout.
      const closedEarly = device.closed(90_000).then((code) => `closed with ${code}`, () => null);
      expect(await Promise.race([device.waitForSeq(lastSeq, 90_000).then(() => null), closedEarly])).toBeNull();
      await device.waitFor((fs) => fs.some((f) => f.type === 'JOB_PROGRESS' && f.payload.progress === 1), 10_000, 'the latest progress');
    } finally {
      clearInterval(sampler);
      stopThrottle();
    }
    await sleep(100);

    // Order: every seq once, in order; the live ones after the whole replay.
    expect(device.closeCode).toBeNull();
    expect(device.frames.some((f) => f.type === 'RESYNC_REQUIRED')).toBe(false);
    expect(device.events().map((e) => e.seq)).toEqual(Array.from({ length: REPLAY_EVENTS + LIVE_EVENTS }, (_, i) => i + 1));
    // Shape: live events did queue behind the paced replay (the case under test happened) ...
    expect(maxQueued).toBeGreaterThanOrEqual(LIVE_EVENTS / 2);
    expect(queuedWhileOverLimit).toBe(true);
    // ... and went out within the budget: never more unsent than the limit plus the largest frame.
    expect(maxBuffered).toBeGreaterThan(LIMIT);
    expect(maxBuffered).toBeLessThanOrEqual(LIMIT + REPLAY_BYTES + 4 * 1024);
    // Progress parked during the catch-up: only the latest value, after the stored events.
    const progress = device.ofType('JOB_PROGRESS');
    expect(progress.map((f) => f.payload.progress)).toEqual([1]);
    expect(device.frames.findIndex((f) => f.type === 'JOB_PROGRESS')).toBeGreaterThan(device.frames.findIndex((f) => f.seq === lastSeq));
    expect(conn.syncing).toBe(false);
  }, 180_000);
});
