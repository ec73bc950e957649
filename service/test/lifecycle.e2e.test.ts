import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseRetryAfterMs } from '../src/protocol/index.js';
import { newDraft, sleep, startService, storageVariants } from './support/harness.js';

describe.each(storageVariants())('lifecycle ($kind)', ({ kind, skip }) => {
  it.skipIf(skip)('a commit whose publish was lost is delivered in order, filled from the log', async () => {
    const svc = await startService({ storage: kind, env: { GAP_FILL_MS: '50' } });
    try {
      const u = `u-${randomUUID()}`;
      const dev = await svc.device(u, 'phone');
      await dev.waitForType('HELLO');
      // Commit without publishing: what a crash between commit and publish leaves behind.
      await svc.storage.unitOfWork(u, async (tx) => {
        tx.appendEvent({ type: 'DRAFT_DELETED', payload: { draftId: 'lost', deleted: true, deviceId: null }, originDeviceId: null });
      });
      await svc.api(u).post('/api/drafts', newDraft());
      await dev.waitForSeq(2);
      expect(dev.events().map((e) => [e.seq, e.type])).toEqual([
        [1, 'DRAFT_DELETED'],
        [2, 'DRAFT_CREATED'],
      ]);
      const metrics = await (await fetch(`${svc.url}/metrics`)).text();
      expect(metrics).toMatch(/rt_gap_fills_total\{[^}]*\} [1-9]/);
    } finally {
      await svc.close();
    }
  });

  it.skipIf(skip)('graceful shutdown: readiness off, in-flight requests finish, sockets closed with 1012 and a retry delay', async () => {
    const svc = await startService({ storage: kind, env: { SHUTDOWN_DRAIN_DELAY_MS: '300' } });
    const u = `u-${randomUUID()}`;
    const devices = await Promise.all([svc.device(u, 'a'), svc.device(u, 'b')]);
    await Promise.all(devices.map((d) => d.waitForType('HELLO')));
    expect((await fetch(`${svc.url}/readyz`)).status).toBe(200);
    const inflight = svc.api(u).post('/api/drafts', newDraft());
    const closing = svc.app.close();
    await sleep(50);
    expect((await fetch(`${svc.url}/readyz`)).status).toBe(503);
    expect((await inflight).status).toBe(201);
    await closing;
    for (const d of devices) {
      expect(await d.closed()).toBe(1012);
      const retry = parseRetryAfterMs(d.closeReason);
      expect(retry).not.toBeNull();
      expect(retry!).toBeGreaterThanOrEqual(0);
      expect(retry!).toBeLessThanOrEqual(200);
    }
    await expect(fetch(`${svc.url}/healthz`)).rejects.toThrow();
  });

  it.skipIf(skip)('metrics expose connections, events, delivery latency, HTTP durations and process metrics', async () => {
    const svc = await startService({ storage: kind });
    try {
      const u = `u-${randomUUID()}`;
      const dev = await svc.device(u, 'phone');
      await dev.waitForType('HELLO');
      await svc.api(u).post('/api/drafts', newDraft());
      await dev.waitForSeq(1);
      const text = await (await fetch(`${svc.url}/metrics`)).text();
      const value = (name: string, labels: Record<string, string> = {}) => {
        const line = text
          .split('\n')
          .find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
        return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
      };
      expect(value('rt_ws_connections')).toBe(1);
      expect(value('rt_ws_users')).toBe(1);
      expect(value('rt_events_published_total', { type: 'DRAFT_CREATED' })).toBe(1);
      expect(value('rt_events_delivered_total', { type: 'DRAFT_CREATED' })).toBe(1);
      expect(value('rt_event_delivery_latency_seconds_bucket', { le: '+Inf', type: 'DRAFT_CREATED' })).toBe(1);
      expect(value('http_request_duration_seconds_count', { method: 'POST', route: '/api/drafts', status: '201' })).toBe(1);
      expect(value('process_resident_memory_bytes')).toBeGreaterThan(0);
      expect(value('nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    } finally {
      await svc.close();
    }
  });
});

describe.each(storageVariants())('outbox ($kind)', ({ kind, skip }) => {
  it.skipIf(skip)('an event committed but never published is republished by the outbox sweep', async () => {
    const svc = await startService({ storage: kind, env: { OUTBOX_INTERVAL_MS: '200', OUTBOX_GRACE_MS: '100' } });
    try {
      const u = `u-${randomUUID()}`;
      const dev = await svc.device(u, 'phone');
      await dev.waitForType('HELLO');
      await svc.api(u).post('/api/drafts', newDraft());
      await dev.waitForSeq(1);
      // The last event of the stream: no later event will reveal the gap, only the outbox can.
      await svc.storage.unitOfWork(u, async (tx) => {
        tx.appendEvent({ type: 'DRAFT_DELETED', payload: { draftId: 'x', deleted: true, deviceId: null }, originDeviceId: null });
      });
      await dev.waitForSeq(2, 5_000);
      expect(dev.events().map((e) => e.seq)).toEqual([1, 2]);
      await sleep(300);
      expect(await svc.storage.unpublishedEvents(new Date(Date.now() + 1000), 10)).toEqual([]);
    } finally {
      await svc.close();
    }
  });
});
