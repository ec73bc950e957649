/**
 * The gateway while a socket's HELLO is not out yet. The real gateway, hub, storage (PGlite) and
 * `ws` sockets; the hub's attach is held back until the test lets it go, so the client's frames
 * are sure to arrive first (in the running service that depends on how fast the log is read).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBus } from '../src/adapters/bus-memory.js';
import { createTokenVerifier } from '../src/auth.js';
import { createMetrics } from '../src/metrics.js';
import type { Storage } from '../src/ports/storage.js';
import { createGateway } from '../src/realtime/gateway.js';
import { createHub, type Hub } from '../src/realtime/hub.js';
import { makeStorage, mintToken, TEST_SECRET, TestDevice } from './support/harness.js';

const log = pino({ level: 'silent' });

let storage: Storage;
let server: Server;
let hub: Hub;
let gateway: ReturnType<typeof createGateway>;
let wsUrl: string;
let release: () => void = () => undefined;
let attachHeld: Promise<void> = Promise.resolve();

beforeAll(async () => {
  storage = await makeStorage('pglite');
  await storage.migrate();
  const metrics = createMetrics({ instanceId: 't', collectDefault: false });
  hub = createHub({
    storage,
    busFactory: (h) => createMemoryBus(h),
    metrics,
    log,
    options: {
      instanceId: 't',
      heartbeatMs: 30_000,
      bufferMaxEvents: 100,
      bufferTtlMs: 60_000,
      replayMaxEvents: 1_000,
      gapFillMs: 50,
      sendBufferLimitBytes: 1024 * 1024,
      transientDropBytes: 256 * 1024,
    },
  });
  // The same hub, except that attach waits for the test (as a slow log read would).
  const gated: Hub = { ...hub, attach: async (...args) => attachHeld.then(() => hub.attach(...args)) };
  server = createServer();
  gateway = createGateway({
    server,
    hub: gated,
    verifyToken: await createTokenVerifier({
      secret: TEST_SECRET,
      publicKey: undefined,
      jwksUrl: undefined,
      issuer: undefined,
      audience: undefined,
      usingDevSecret: false,
    }),
    metrics,
    log,
    options: { heartbeatMs: 30_000, tokenExpiryNoticeMs: 1_000, maxPayloadBytes: 64 * 1024, restartJitterMs: 0 },
    isDraining: () => false,
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  wsUrl = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws/realtime`;
});

afterAll(async () => {
  release();
  gateway.close();
  await hub.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await storage.close();
});

describe('gateway before HELLO', () => {
  it('frames sent before HELLO are answered after it, in order: HELLO is always the first frame', async () => {
    attachHeld = new Promise((r) => (release = r));
    const u = `u-${randomUUID()}`;
    const renewed = await mintToken(u);
    const dev = await TestDevice.connect(wsUrl, await mintToken(u), { deviceId: 'eager' });
    dev.send({ type: 'PING', payload: { clientTime: 7 } });
    dev.send('not json');
    dev.send({ type: 'AUTH', payload: { token: renewed } });
    // A ws-level ping is answered by ws itself: once its pong is back, the server has read the frames above.
    await new Promise<void>((r) => {
      dev.ws.once('pong', () => r());
      dev.ws.ping();
    });
    expect(dev.frames).toEqual([]);
    release();
    await dev.waitForType('AUTH_OK');
    expect(dev.frames.map((f) => f.type)).toEqual(['HELLO', 'PONG', 'ERROR', 'AUTH_OK']);
    expect(dev.frames[1]!.payload.clientTime).toBe(7);
    dev.terminate();
  });

  it('a client that floods frames before HELLO is closed with 1008', async () => {
    attachHeld = new Promise((r) => (release = r));
    const u = `u-${randomUUID()}`;
    const dev = await TestDevice.connect(wsUrl, await mintToken(u), { deviceId: 'flood' });
    for (let i = 0; i < 40; i += 1) dev.send({ type: 'PING', payload: { clientTime: i } });
    expect(await dev.closed()).toBe(1008);
    release();
    expect(dev.frames.filter((f) => f.type === 'PONG')).toEqual([]);
  });
});
