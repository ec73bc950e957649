/**
 * The device client against a real service (PGlite, ephemeral port, real ws): no mocks.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mintToken, newDraft, startService, type TestService } from '../../service/test/support/harness.js';
import { waitUntil } from '../../cli/test/support/wait.js';
import { createNodeDevice } from './node.js';
import { Device, realtimeUrl, type DeviceEvent, type DeviceEvents, type WebSocketConstructor } from './realtime.js';

const user = () => `u-${randomUUID().slice(0, 8)}`;
const fast = { backoff: { initialMs: 100, maxMs: 1_000 } };

/** Record everything a device emits. */
function record(device: Device) {
  const log: { name: keyof DeviceEvents; value: unknown }[] = [];
  const events: DeviceEvent[] = [];
  for (const name of ['open', 'hello', 'event', 'resync', 'gap', 'duplicate', 'resent', 'discarded', 'reconnecting', 'closed', 'error', 'tokenRenewed', 'stopped'] as const) {
    device.on(name, (value: unknown) => {
      log.push({ name, value });
      if (name === 'event') events.push(value as DeviceEvent);
    });
  }
  const of = <K extends keyof DeviceEvents>(name: K) => log.filter((l) => l.name === name).map((l) => l.value as DeviceEvents[K]);
  return { log, events, of, seqs: () => events.map((e) => e.seq) };
}

describe('device client against the real service', () => {
  let svc: TestService;
  const devices: Device[] = [];
  beforeAll(async () => {
    svc = await startService({ storage: 'pglite', logLevel: 'warn' });
  });
  afterEach(async () => {
    await Promise.all(devices.splice(0).map((d) => d.close()));
  });
  afterAll(async () => {
    await svc?.close();
  });

  const device = (opts: Partial<Parameters<typeof createNodeDevice>[0]> & { userId: string }) => {
    const { userId, ...rest } = opts;
    const d = createNodeDevice({ urls: [svc.url], deviceId: 'phone', getToken: () => mintToken(userId), ...fast, ...rest });
    devices.push(d);
    return d;
  };

  it('reads HELLO, then gets live events in seq order with receive time and own echoes marked', async () => {
    const u = user();
    const d = device({ userId: u });
    const r = record(d);
    d.start();
    await d.once('hello');
    expect(d.hello).toMatchObject({ userId: u, deviceId: 'phone', instanceId: svc.app.instanceId, latestSeq: 0 });
    expect(d.epoch).toEqual(expect.any(String));
    await svc.api(u, { deviceId: 'phone' }).post('/api/drafts', newDraft());
    await svc.api(u, { deviceId: 'laptop' }).post('/api/drafts', newDraft());
    await waitUntil(() => r.events.length === 2, '2 events');
    expect(r.seqs()).toEqual([1, 2]);
    expect(r.events.map((e) => [e.type, e.own, e.replayed])).toEqual([
      ['DRAFT_CREATED', true, false],
      ['DRAFT_CREATED', false, false],
    ]);
    expect(r.events[0]!.receivedAt).toBeGreaterThan(0);
    expect(d.lastSeq).toBe(2);
  });

  it('after a server-side close it reconnects and resumes: nothing lost, nothing twice', async () => {
    const u = user();
    const api = svc.api(u, { deviceId: 'writer' });
    // Away long enough for the three writes below to land first, even on a loaded machine.
    const d = device({ userId: u, backoff: { initialMs: 2_500, maxMs: 2_500 } });
    const r = record(d);
    d.start();
    await d.once('hello');
    await api.post('/api/drafts', newDraft());
    await waitUntil(() => r.events.length === 1, 'first event');
    // The server drops this device as a slow consumer; writes land while it is away.
    const conn = svc.app.hub.allConnections().find((c) => c.userId === u)!;
    conn.close(4429, 'slow consumer: reconnect and resume');
    await d.once('reconnecting');
    for (let i = 0; i < 3; i += 1) await api.post('/api/drafts', newDraft());
    await waitUntil(() => r.events.length >= 4, 'replayed events');
    await api.post('/api/drafts', newDraft());
    await waitUntil(() => r.events.length >= 5, 'live event after resume');
    expect(r.seqs()).toEqual([1, 2, 3, 4, 5]);
    expect(r.events.map((e) => e.replayed)).toEqual([false, true, true, true, false]);
    expect(r.of('closed')[0]).toMatchObject({ code: 4429, willReconnect: true });
    expect(r.of('hello')[1]!.replay).toEqual({ fromSeq: 2, toSeq: 4, count: 3, source: 'buffer' });
  });

  it('a lost frame is a gap: it sends RESUME, holds what came after, and delivers everything once in order', async () => {
    const u = user();
    const api = svc.api(u);
    let dropped = false;
    const d = device({
      userId: u,
      // Lose seq 2 once, as if the network ate it.
      dropFrame: (f) => {
        if (f.seq === 2 && !dropped) {
          dropped = true;
          return true;
        }
        return false;
      },
    });
    const r = record(d);
    d.start();
    await d.once('hello');
    for (let i = 0; i < 4; i += 1) await api.post('/api/drafts', newDraft());
    await waitUntil(() => r.events.length === 4, '4 events');
    expect(dropped).toBe(true);
    expect(r.seqs()).toEqual([1, 2, 3, 4]);
    expect(r.of('gap')[0]).toEqual({ expected: 2, got: 3 });
    expect(r.events[1]!.replayed).toBe(true); // seq 2 came back through the resume
    // The resume resent what the device already held (seq 3 at least): expected copies, dropped
    // without being emitted twice, and not duplicates.
    await waitUntil(() => r.of('resent').some((x) => x.seq === 3), 'the resent copy of the held seq 3');
    expect(r.of('resent').every((x) => x.event.seq === x.seq && x.seq >= 3 && x.seq <= 4)).toBe(true);
    expect(r.of('duplicate')).toEqual([]);
    expect(d.counters).toMatchObject({ duplicates: 0, gaps: 1 });
    expect(r.of('reconnecting')).toEqual([]);
  });

  it('a resend nobody asked for is duplicates, reported with the dropped event', async () => {
    const u = user();
    const api = svc.api(u);
    const d = device({ userId: u });
    const r = record(d);
    d.start();
    await d.once('hello');
    const ids = [randomUUID(), randomUUID()];
    for (const id of ids) await api.post('/api/drafts', newDraft({ id }));
    await waitUntil(() => r.events.length === 2, '2 events');
    // The server sends seqs 1 and 2 again though the device never sent RESUME.
    svc.app.hub.resume(svc.app.hub.allConnections().find((c) => c.userId === u)!, 0);
    await waitUntil(() => r.of('duplicate').length === 2, '2 duplicates');
    expect(r.of('duplicate').map((x) => [x.seq, (x.event.payload as { draftId: string }).draftId])).toEqual([
      [1, ids[0]],
      [2, ids[1]],
    ]);
    expect(r.of('resent')).toEqual([]);
    expect(r.seqs()).toEqual([1, 2]);
  });

  it('on 1012 (instance shutting down) it reconnects to the next URL after the retry delay, and resyncs to the new log', async () => {
    const a = await startService({ storage: 'pglite', logLevel: 'warn', env: { RESTART_JITTER_MS: '300' } });
    const u = user();
    try {
      const d = createNodeDevice({ urls: [a.url, svc.url], deviceId: 'phone', getToken: () => mintToken(u), backoff: { initialMs: 5_000, maxMs: 5_000 } });
      devices.push(d);
      const r = record(d);
      d.start();
      await d.once('hello');
      expect(d.hello!.instanceId).toBe(a.app.instanceId);
      await a.api(u).post('/api/drafts', newDraft());
      await waitUntil(() => r.events.length === 1, 'event on the first instance');
      await a.app.close();
      await waitUntil(() => r.of('hello').length === 2, 'HELLO from the second instance');
      expect(r.of('closed')[0]).toMatchObject({ code: 1012, willReconnect: true });
      const rec = r.of('reconnecting')[0]!;
      expect(rec.url).toBe(realtimeUrl(svc.url));
      expect(rec.delayMs).toBeLessThanOrEqual(300); // the retryAfterMs of the close reason, not the 5 s backoff
      expect(d.hello!.instanceId).toBe(svc.app.instanceId);
      // The other instance has another log (another epoch): told explicitly, never a silent replay.
      await waitUntil(() => r.of('resync').length === 1, 'RESYNC_REQUIRED');
      expect(r.of('resync')[0]).toMatchObject({ reason: 'epoch_changed', previousSeq: 1, latestSeq: 0 });
      expect(d.epoch).toBe(d.hello!.epoch);
      await svc.api(u).post('/api/drafts', newDraft());
      await waitUntil(() => r.events.length === 2, 'live event on the second instance');
      expect(r.seqs()).toEqual([1, 1]);
    } finally {
      await a.close();
    }
  });

  it('renews its token in band on TOKEN_EXPIRING and is not closed when the old token expires', async () => {
    const u = user();
    let minted = 0;
    // First token lives 2 s (the notice comes at once: it is within 30 s); renewals live an hour.
    const d = device({ userId: u, getToken: () => (minted++ === 0 ? mintToken(u, { ttlSec: 2 }) : mintToken(u)) });
    const r = record(d);
    d.start();
    await waitUntil(() => r.of('tokenRenewed').length === 1, 'AUTH_OK');
    await new Promise((res) => setTimeout(res, 2_600));
    expect(r.of('closed')).toEqual([]);
    await svc.api(u).post('/api/drafts', newDraft());
    await waitUntil(() => r.events.length === 1, 'event after the first token expired');
  });

  it('4401 without a way to renew stops with an unauthorized error', async () => {
    const u = user();
    const d = device({ userId: u, getToken: undefined, token: await mintToken(u, { ttlSec: 1 }) });
    const r = record(d);
    d.start();
    const { error } = await d.once('stopped');
    expect(error).toMatchObject({ kind: 'unauthorized', fatal: true });
    expect(r.of('closed')[0]).toMatchObject({ code: 4401, willReconnect: false });
  });

  it('4401 with a token provider: renews the token, reconnects and resumes without loss', async () => {
    const u = user();
    let minted = 0;
    const d = device({ userId: u, getToken: () => (minted++, mintToken(u)) });
    const r = record(d);
    d.start();
    await d.once('hello');
    await svc.api(u).post('/api/drafts', newDraft());
    await waitUntil(() => r.events.length === 1, 'first event');
    svc.app.hub.allConnections().find((c) => c.userId === u)!.close(4401, 'token expired: renew and reconnect');
    await svc.api(u).post('/api/drafts', newDraft());
    await waitUntil(() => r.of('hello').length === 2 && r.events.length === 2, 'reconnected with the missed event');
    expect(minted).toBe(2);
    expect(r.seqs()).toEqual([1, 2]);
    expect(r.of('reconnecting')[0]).toMatchObject({ code: 4401, delayMs: 0 });
  });

  it('1008 (policy) stops with an error instead of reconnecting', async () => {
    const u = user();
    const d = device({ userId: u });
    const r = record(d);
    d.start();
    await d.once('hello');
    svc.app.hub.allConnections().find((c) => c.userId === u)!.close(1008, 'too many bad frames');
    const { error } = await d.once('stopped');
    expect(error).toMatchObject({ kind: 'policy', fatal: true });
    expect(error!.message).toContain('1008: too many bad frames');
    expect(r.of('reconnecting')).toEqual([]);
  });

  it('backs off exponentially with jitter, capped, while no server answers', async () => {
    const { closedPortUrl } = await import('../../cli/test/support/run-cli.js');
    const d = createNodeDevice({ urls: [await closedPortUrl()], deviceId: 'phone', token: 't', backoff: { initialMs: 40, maxMs: 200 } });
    devices.push(d);
    const r = record(d);
    d.start();
    await waitUntil(() => r.of('reconnecting').length >= 6, '6 reconnect attempts');
    const delays = r.of('reconnecting').slice(0, 6).map((x) => x.delayMs);
    // attempt n waits between half and all of min(200, 40·2ⁿ)
    const caps = [40, 80, 160, 200, 200, 200];
    delays.forEach((ms, i) => {
      expect(ms).toBeGreaterThanOrEqual(caps[i]! / 2 - 1);
      expect(ms).toBeLessThanOrEqual(caps[i]! + 1);
    });
  });

  it('a refused token (HTTP 401 before the upgrade) stops with unauthorized; no server stops with unreachable', async () => {
    const bad = device({ userId: 'x', getToken: undefined, token: await mintToken('x', { secret: 'another-secret-0123456789-0123456789-xx' }) });
    bad.start();
    expect((await bad.once('stopped')).error).toMatchObject({ kind: 'unauthorized' });

    const nowhere = createNodeDevice({ urls: ['http://127.0.0.1:9'], deviceId: 'phone', token: 't', maxInitialAttempts: 1 });
    devices.push(nowhere);
    nowhere.start();
    const { error } = await nowhere.once('stopped');
    expect(error).toMatchObject({ kind: 'unreachable', fatal: true });
    expect(error!.message).toContain('127.0.0.1:9');
  });

  it('with a browser-style WebSocket class (no headers) it sends the token as ?token=', async () => {
    const u = user();
    const seen: string[] = [];
    // Like a browser's WebSocket: the constructor takes only the URL.
    class BrowserLikeWebSocket extends WebSocket {
      constructor(url: string) {
        seen.push(url);
        super(url);
      }
    }
    const d = new Device({
      urls: [svc.url],
      deviceId: 'browser',
      WebSocket: BrowserLikeWebSocket as unknown as WebSocketConstructor,
      token: await mintToken(u),
      ...fast,
    });
    devices.push(d);
    d.start();
    const hello = await d.once('hello');
    expect(hello.userId).toBe(u);
    expect(new URL(seen[0]!).searchParams.get('token')).toEqual(expect.any(String));
  });
});
