/**
 * Hub lifecycle edges that the running service cannot hit on demand (they depend on which of two
 * events comes first): real `ws` sockets, real storage (PGlite), the in-process bus. Nothing mocked.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { createMemoryBus } from '../src/adapters/bus-memory.js';
import { createPgliteRunner } from '../src/adapters/sql-pglite.js';
import { createMetrics } from '../src/metrics.js';
import type { BusFactory, BusHandlers } from '../src/ports/bus.js';
import type { Storage } from '../src/ports/storage.js';
import { restartReason } from '../src/protocol/index.js';
import { Connection } from '../src/realtime/connection.js';
import { createHub } from '../src/realtime/hub.js';
import { createSqlStorage } from '../src/storage/sql-storage.js';
import { makeStorage, sleep } from './support/harness.js';

const log = pino({ level: 'silent' });

let storage: Storage;
let server: Server;
let wss: WebSocketServer;
let url: string;

beforeAll(async () => {
  storage = await makeStorage('pglite');
  await storage.migrate();
  server = createServer();
  wss = new WebSocketServer({ server });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const ws of wss.clients) ws.terminate();
  wss.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await storage.close();
});

/** A connected socket pair: the server side wrapped as the gateway does, the client recording frames. */
async function connect(userId: string) {
  const accepted = new Promise<WebSocket>((r) => wss.once('connection', r));
  const client = new WebSocket(url);
  const frames: string[] = [];
  client.on('message', (d) => frames.push(String(d)));
  const closed = new Promise<{ code: number; reason: string }>((r) =>
    client.on('close', (code, reason) => r({ code, reason: String(reason) })),
  );
  await new Promise((r) => client.once('open', r));
  const conn = new Connection(await accepted, randomUUID(), userId, 'd1', null, null);
  return { conn, client, frames, closed };
}

function makeHub(bufferTtlMs = 60_000, store: Storage = storage, extra: Pick<Parameters<typeof createHub>[0], 'onBusReconnect'> & { busFactory?: BusFactory } = {}) {
  return createHub({
    storage: store,
    busFactory: extra.busFactory ?? ((h) => createMemoryBus(h)),
    ...(extra.onBusReconnect ? { onBusReconnect: extra.onBusReconnect } : {}),
    metrics: createMetrics({ instanceId: 't', collectDefault: false }),
    log,
    options: {
      instanceId: 't',
      heartbeatMs: 30_000,
      bufferMaxEvents: 100,
      bufferTtlMs,
      replayMaxEvents: 1_000,
      gapFillMs: 50,
      sendBufferLimitBytes: 1024 * 1024,
      transientDropBytes: 256 * 1024,
    },
  });
}

describe('hub', () => {
  it('a socket attached while the hub shuts down is closed with 1012 and a retry delay, not left open without HELLO', async () => {
    const hub = makeHub();
    try {
      hub.closeAll(1012, () => restartReason(250));
      const { conn, frames, closed } = await connect(`u-${randomUUID()}`);
      await hub.attach(conn, {});
      expect(await closed).toEqual({ code: 1012, reason: 'restart retryAfterMs=250' });
      expect(frames).toEqual([]);
    } finally {
      await hub.close();
    }
  });

  it('a socket that closes while its user state is set up does not leave the state (and subscription) behind', async () => {
    const hub = makeHub(50);
    try {
      const userId = `u-${randomUUID()}`;
      const { conn, client } = await connect(userId);
      const attaching = hub.attach(conn, {});
      // The device goes before the state is ready: what the gateway's close listener does.
      client.terminate();
      conn.closed = true;
      hub.detach(conn);
      await attaching;
      expect(hub.buffers().map((b) => b.userId)).toEqual([userId]);
      for (let i = 0; i < 100 && hub.stats().buffer.users > 0; i += 1) await sleep(20);
      expect(hub.stats().buffer.users).toBe(0);
      // And the user still works: a new device gets its state back.
      const next = await connect(userId);
      await hub.attach(next.conn, {});
      for (let i = 0; i < 100 && next.frames.length === 0; i += 1) await sleep(10);
      expect(JSON.parse(next.frames[0]!).type).toBe('HELLO');
      expect(hub.stats()).toMatchObject({ totalConnections: 1, buffer: { users: 1 } });
      next.client.terminate();
    } finally {
      await hub.close();
    }
  });

  it('when the user\'s log is reset (new epoch), live sockets are closed to resync, not left waiting on events they drop', async () => {
    // A storage of its own, with its SQL runner, to reset one user's log as a restore would.
    const runner = await createPgliteRunner();
    const store = createSqlStorage(runner);
    await store.migrate();
    const hub = makeHub(60_000, store);
    const userId = `u-${randomUUID()}`;
    const write = async () => {
      const { events } = await store.unitOfWork(userId, async (tx) => {
        tx.appendEvent({ type: 'DRAFT_DELETED', payload: { draftId: randomUUID(), deleted: true }, originDeviceId: null });
      });
      hub.publishStored(events);
      return events[0]!;
    };
    try {
      await write();
      const { conn, frames, closed } = await connect(userId);
      await hub.attach(conn, {});
      const first = await write();
      for (let i = 0; i < 100 && frames.length < 2; i += 1) await sleep(10);
      expect(frames.map((f) => JSON.parse(f).seq ?? null)).toEqual([null, 2]); // HELLO, then seq 2
      // The log is reset: the next write starts a new epoch at seq 1.
      await runner.query('DELETE FROM events WHERE user_id = $1', [userId]);
      await runner.query('DELETE FROM user_logs WHERE user_id = $1', [userId]);
      const after = await write();
      expect(after.epoch).not.toBe(first.epoch);
      expect(after.seq).toBe(1);
      expect(await closed).toEqual({ code: 1011, reason: 'event log reset: reconnect and resume' });
      expect(hub.stats()).toMatchObject({ totalConnections: 0, buffer: { users: 0 } });
      // The device comes back with what it knew: told to resync, then live on the new log.
      const back = await connect(userId);
      await hub.attach(back.conn, { lastSeq: 2, epoch: first.epoch });
      await write();
      for (let i = 0; i < 100 && back.frames.length < 3; i += 1) await sleep(10);
      const types = back.frames.map((f) => JSON.parse(f) as { type: string; seq?: number; payload: { reason?: string } });
      expect(types[0]!.type).toBe('HELLO');
      expect(types[1]).toMatchObject({ type: 'RESYNC_REQUIRED', payload: { reason: 'epoch_changed' } });
      expect(types[2]).toMatchObject({ type: 'DRAFT_DELETED', seq: 2 });
      back.client.terminate();
    } finally {
      await hub.close();
      await store.close();
    }
  });

  it('a bus gap naming some users fills their missed events from the log, and reloads revocations only when control messages may be lost', async () => {
    // The in-process bus, with the handlers the hub gave it kept: what a Redis bus calls after a
    // node came back or a slot moved (bus-cluster.redis.test.ts shows which users it names).
    let handlers: BusHandlers | undefined;
    let reloads = 0;
    const hub = makeHub(60_000, storage, {
      busFactory: (h) => ((handlers = h), createMemoryBus(h)),
      onBusReconnect: () => (reloads += 1),
    });
    const [a, b] = [`u-${randomUUID()}`, `u-${randomUUID()}`];
    /** A committed event whose publish the bus lost. */
    const lostWrite = (userId: string) =>
      storage.unitOfWork(userId, async (tx) => {
        tx.appendEvent({ type: 'DRAFT_DELETED', payload: { draftId: randomUUID(), deleted: true }, originDeviceId: null });
      });
    try {
      const da = await connect(a);
      const db = await connect(b);
      await hub.attach(da.conn, {});
      await hub.attach(db.conn, {});
      for (let i = 0; i < 100 && (da.frames.length < 1 || db.frames.length < 1); i += 1) await sleep(10);
      await lostWrite(a);
      await lostWrite(b);

      handlers!.onReconnect!({ users: new Set([a]), control: false });
      for (let i = 0; i < 100 && da.frames.length < 2; i += 1) await sleep(10);
      expect(da.frames.slice(1).map((f) => JSON.parse(f) as { type: string; seq: number })).toMatchObject([{ type: 'DRAFT_DELETED', seq: 1 }]);
      await sleep(200);
      expect(db.frames).toHaveLength(1); // HELLO only: b was not in the gap, its log was not re-read
      expect(reloads).toBe(0);

      // A gap that names nobody in particular: every user, and the revocations.
      handlers!.onReconnect!({ control: true });
      for (let i = 0; i < 100 && db.frames.length < 2; i += 1) await sleep(10);
      expect(db.frames.slice(1).map((f) => JSON.parse(f) as { type: string; seq: number })).toMatchObject([{ type: 'DRAFT_DELETED', seq: 1 }]);
      expect(da.frames).toHaveLength(2); // nothing twice
      expect(reloads).toBe(1);
      da.client.terminate();
      db.client.terminate();
    } finally {
      await hub.close();
    }
  });
});
