/**
 * The built-in scenarios of `rtctl check`. Each asserts exact outcomes (types, payloads, counts,
 * seq order, no duplicates) and a time bound (generous: a shared machine, scaled by --timeout-scale).
 */
import { randomUUID } from 'node:crypto';
import { assertGapless, CheckSkipped, draftBody, fail, orderBody, sleep, type RecordingDevice, type ScenarioRuntime } from './runtime.js';

export interface BuiltinScenario {
  name: string;
  description: string;
  run(rt: ScenarioRuntime): Promise<void>;
}

/** Delivery bound for a single live event (ms, before scaling). */
const LIVE_MS = 3_000;
/** How long to watch for events that must not come. */
const QUIET_MS = 400;

function eventsOf(d: RecordingDevice, type: string) {
  return d.events.filter((e) => e.type === type);
}

async function quiet(rt: ScenarioRuntime, devices: RecordingDevice[], counts: number[], what: string): Promise<void> {
  await sleep(rt.ms(QUIET_MS));
  devices.forEach((d, i) => {
    if (d.stored().length !== counts[i]) fail(`${d.name}: expected exactly ${counts[i]} stored event(s) ${what}; got ${d.describe()}`);
  });
}

const reconnectReplay: BuiltinScenario = {
  name: 'reconnect-replay',
  description: 'a device away while 5 writes happen reconnects with lastSeq + epoch: it gets exactly those 5 as replay, in order, then live ones',
  async run(rt) {
    const u = rt.userId('u');
    const writer = 'writer';
    const a = await rt.connect('stay', u);
    let b = await rt.connect('away', u);
    for (let i = 0; i < 3; i += 1) await rt.must(201, u, 'POST', '/api/drafts', draftBody(), writer);
    await b.waitFor(() => b.stored().length === 3, rt.ms(LIVE_MS), '3 live events');
    const lastSeq = b.device.lastSeq!;
    const epoch = b.device.epoch!;
    await b.device.close();
    for (let i = 0; i < 5; i += 1) await rt.must(201, u, 'POST', '/api/drafts', draftBody(), writer);
    const t0 = performance.now();
    b = await rt.connect('back', u, { lastSeq, epoch });
    const hello = b.hellos[0]!;
    if (!hello.replay || hello.replay.count !== 5 || hello.replay.fromSeq !== lastSeq + 1) {
      fail(`HELLO.replay should cover 5 events from seq ${lastSeq + 1}; got ${JSON.stringify(hello.replay)}`);
    }
    await b.waitFor(() => b.stored().length >= 5, rt.ms(LIVE_MS), 'the 5 replayed events');
    const replayMs = performance.now() - t0;
    if (!b.stored().every((e) => e.replayed && e.type === 'DRAFT_CREATED')) fail(`back: replayed events should be 5 DRAFT_CREATED marked replayed; got ${b.describe()}`);
    await rt.must(201, u, 'POST', '/api/drafts', draftBody(), writer);
    await b.waitFor(() => b.stored().length === 6, rt.ms(LIVE_MS), 'the live event after the replay');
    if (b.stored()[5]!.replayed) fail('back: the event after the replay is marked replayed');
    await a.waitFor(() => a.stored().length === 9, rt.ms(LIVE_MS), 'all 9 events on the device that stayed');
    assertGapless(b, lastSeq + 1);
    assertGapless(a, 1);
    await quiet(rt, [a, b], [9, 6], 'after the seam');
    if (replayMs > rt.ms(LIVE_MS)) fail(`replay took ${Math.round(replayMs)} ms`);
  },
};

const batchAggregation: BuiltinScenario = {
  name: 'batch-aggregation',
  description: 'a 50-order batch upsert yields exactly one PENDING_CREATED { count: 50 } on every device, never one per order',
  async run(rt) {
    const u = rt.userId('u');
    const devices = await Promise.all([rt.connect('d1', u), rt.connect('d2', u), rt.connect('d3', u)]);
    const orders = Array.from({ length: 50 }, () => orderBody());
    const res = await rt.must(200, u, 'POST', '/api/pending-orders', { orders }, 'd1');
    if (!Array.isArray(res.results) || res.results.length !== 50 || !res.results.every((r: { action: string }) => r.action === 'created')) {
      fail(`the upsert should answer 50 'created' results; got ${JSON.stringify(res.results).slice(0, 200)}`);
    }
    const ids = new Set<string>(orders.map((o) => o.id));
    for (const d of devices) {
      await d.waitFor(() => eventsOf(d, 'PENDING_CREATED').length >= 1, rt.ms(LIVE_MS), 'PENDING_CREATED');
      const e = eventsOf(d, 'PENDING_CREATED')[0]!;
      const p = e.payload as { count: number; orderIds: string[] };
      if (p.count !== 50 || p.orderIds.length !== 50 || !p.orderIds.every((id) => ids.has(id))) {
        fail(`${d.name}: PENDING_CREATED should carry count 50 and the 50 order ids; got count ${p.count}, ${p.orderIds.length} id(s)`);
      }
      if (e.seq !== res.seq) fail(`${d.name}: PENDING_CREATED seq ${e.seq}, the response said ${res.seq}`);
    }
    await quiet(rt, devices, [1, 1, 1], 'for one batch');
    // The same batch again is a retry: every order unchanged, no event.
    const again = await rt.must(200, u, 'POST', '/api/pending-orders', { orders }, 'd1');
    if (!again.results.every((r: { action: string }) => r.action === 'unchanged')) fail('the same batch again should be all unchanged');
    await quiet(rt, devices, [1, 1, 1], 'after a retried batch');
    for (const d of devices) assertGapless(d, 1);
  },
};

const convertFlow: BuiltinScenario = {
  name: 'convert-flow',
  description: 'converting a draft emits DRAFT_CONVERTED then PENDING_CREATED (consecutive seqs) on every device; converting again emits nothing',
  async run(rt) {
    const u = rt.userId('u');
    const devices = await Promise.all([rt.connect('d1', u), rt.connect('d2', u)]);
    const draft = draftBody();
    await rt.must(201, u, 'POST', '/api/drafts', draft, 'd1');
    const conv = await rt.must(201, u, 'POST', `/api/drafts/${draft.id}/convert`, undefined, 'd1');
    const pid = conv.pendingOrderId as string;
    for (const d of devices) {
      await d.waitFor(() => d.stored().length >= 3, rt.ms(LIVE_MS), 'DRAFT_CREATED, DRAFT_CONVERTED, PENDING_CREATED');
      const [c, v, p] = d.stored();
      if (c!.type !== 'DRAFT_CREATED' || v!.type !== 'DRAFT_CONVERTED' || p!.type !== 'PENDING_CREATED') fail(`${d.name}: wrong order: ${d.describe()}`);
      const vp = v!.payload as { draftId: string; pendingOrderId: string };
      const pp = p!.payload as { orderIds: string[]; count: number };
      if (vp.draftId !== draft.id || vp.pendingOrderId !== pid) fail(`${d.name}: DRAFT_CONVERTED payload ${JSON.stringify(vp)}`);
      if (pp.count !== 1 || pp.orderIds[0] !== pid) fail(`${d.name}: PENDING_CREATED payload ${JSON.stringify(pp)}`);
      if (p!.seq !== v!.seq! + 1 || p!.seq !== conv.seq) fail(`${d.name}: seqs ${v!.seq}, ${p!.seq}; response seq ${conv.seq}`);
    }
    const stored = await rt.must(200, u, 'GET', `/api/drafts/${draft.id}`);
    if (stored.deleted !== true || stored.convertedTo !== pid) fail(`the draft should be a tombstone with convertedTo ${pid}; got ${JSON.stringify(stored).slice(0, 200)}`);
    const again = await rt.must(200, u, 'POST', `/api/drafts/${draft.id}/convert`, undefined, 'd1');
    if (again.pendingOrderId !== pid) fail(`converting again should return the same pending order ${pid}; got ${again.pendingOrderId}`);
    await quiet(rt, devices, [3, 3], 'after converting twice');
    for (const d of devices) assertGapless(d, 1);
  },
};

const isolation: BuiltinScenario = {
  name: 'isolation',
  description: "two users writing at once: each user's devices get exactly their own user's events, never the other's",
  async run(rt) {
    const u1 = rt.userId('alice');
    const u2 = rt.userId('bob');
    const [a1, a2, b1, b2] = await Promise.all([rt.connect('a1', u1), rt.connect('a2', u1), rt.connect('b1', u2), rt.connect('b2', u2)]);
    const ids1 = Array.from({ length: 10 }, () => randomUUID());
    const ids2 = Array.from({ length: 10 }, () => randomUUID());
    await Promise.all([
      (async () => {
        for (const id of ids1) await rt.must(201, u1, 'POST', '/api/drafts', draftBody({ id }), 'a1');
      })(),
      (async () => {
        for (const id of ids2) await rt.must(201, u2, 'POST', '/api/drafts', draftBody({ id }), 'b1');
      })(),
    ]);
    for (const [d, own, other] of [
      [a1, ids1, ids2],
      [a2, ids1, ids2],
      [b1, ids2, ids1],
      [b2, ids2, ids1],
    ] as const) {
      await d.waitFor(() => d.stored().length >= 10, rt.ms(LIVE_MS), "10 events of the device's own user");
      const seen = d.stored().map((e) => (e.payload as { draftId?: string }).draftId);
      if (seen.some((id) => (other as readonly string[]).includes(id!))) fail(`${d.name} (${d.userId}) received the other user's draft`);
      if (seen.join() !== own.join()) fail(`${d.name}: expected its user's 10 drafts in write order; got ${d.describe()}`);
      assertGapless(d, 1);
    }
    await quiet(rt, [a1, a2, b1, b2], [10, 10, 10, 10], 'per device');
    const cross = await rt.api(u2, 'GET', `/api/drafts/${ids1[0]}`);
    if (cross.status !== 404) fail(`bob reading alice's draft should get 404; got ${cross.status}`);
  },
};

const tokenExpiry: BuiltinScenario = {
  name: 'token-expiry',
  description: 'a device whose token expires on an open socket is closed with 4401, renews, reconnects and resumes: writes before and after the expiry arrive exactly once',
  async run(rt) {
    if (!rt.opts.mintShort) throw new CheckSkipped('needs a secret (--secret or JWT_SECRET) to mint a short-lived token; --token-cmd cannot choose the lifetime');
    const u = rt.userId('u');
    const ttlSec = 4;
    const short = await rt.opts.mintShort(u, ttlSec);
    // The server's TOKEN_EXPIRING comes at once (its notice, 30 s by default, exceeds the lifetime);
    // renewing then would keep the socket and cross nothing. So no token is given until the server
    // has closed with 4401: the token really expires, then the device renews and resumes.
    let expired = false;
    const d = await rt.connect('short', u, {
      token: short,
      getToken: () => (expired ? rt.opts.tokens(u) : Promise.reject(new Error('renewal withheld until the token expires'))),
    });
    d.device.on('closed', (c) => {
      if (c.code === 4401) expired = true; // before the device asks for a token: it asks after emitting 'closed'
    });
    for (let i = 0; i < 2; i += 1) await rt.must(201, u, 'POST', '/api/drafts', draftBody(), 'writer');
    await d.waitFor(() => d.stored().length >= 2, rt.ms(LIVE_MS), '2 events before the expiry');
    await d.waitFor(() => d.closes.some((c) => c.code === 4401), rt.ms(ttlSec * 1000 + LIVE_MS), "the 4401 close at the token's expiry");
    await rt.must(201, u, 'POST', '/api/drafts', draftBody(), 'writer'); // while the device renews and reconnects
    await d.waitFor(() => d.hellos.length >= 2, rt.ms(LIVE_MS), 'a HELLO with the renewed token');
    await rt.must(201, u, 'POST', '/api/drafts', draftBody(), 'writer');
    await d.waitFor(() => d.stored().length >= 4, rt.ms(LIVE_MS), '4 events across the expiry');
    if (d.renewals.length > 0) fail('the token was renewed in band although no token was given before the expiry');
    if (d.closes.length !== 1) fail(`expected exactly one close (4401); got ${JSON.stringify(d.closes.map((c) => c.code))}`);
    assertGapless(d, 1);
    if (d.resyncs.length > 0) fail(`a resync across the token expiry (${d.resyncs[0]!.reason})`);
    await quiet(rt, [d], [4], 'across the expiry');
  },
};

const resync: BuiltinScenario = {
  name: 'resync',
  description: "a resume that cannot be served gets HELLO then RESYNC_REQUIRED ('ahead', 'epoch_changed'); the list's seq then lets the device continue with no hole",
  async run(rt) {
    const u = rt.userId('u');
    for (let i = 0; i < 2; i += 1) await rt.must(201, u, 'POST', '/api/drafts', draftBody(), 'writer');
    for (const [name, query, reason] of [
      ['ahead', { lastSeq: 1000 }, 'ahead'],
      ['foreign', { lastSeq: 1, epoch: `foreign-${rt.opts.runId}` }, 'epoch_changed'],
    ] as const) {
      const d = await rt.connect(name, u, query);
      if (d.hellos[0]!.replay !== null) fail(`${name}: HELLO.replay should be null for a resume that cannot be served`);
      await d.waitFor(() => d.resyncs.length === 1, rt.ms(LIVE_MS), 'RESYNC_REQUIRED');
      const r = d.resyncs[0]!;
      if (r.reason !== reason) fail(`${name}: RESYNC_REQUIRED reason ${r.reason}, expected ${reason}`);
      // Refetch the lists: their seq is where the stream continues.
      const list = await rt.must(200, u, 'GET', '/api/drafts');
      if (list.seq !== r.latestSeq) fail(`${name}: the list's seq ${list.seq} differs from RESYNC_REQUIRED.latestSeq ${r.latestSeq}`);
      await rt.must(201, u, 'POST', '/api/drafts', draftBody(), 'writer');
      await d.waitFor(() => d.stored().length === 1, rt.ms(LIVE_MS), 'the next live event after the resync');
      if (d.stored()[0]!.seq !== list.seq + 1) fail(`${name}: the next event has seq ${d.stored()[0]!.seq}, expected ${list.seq + 1}`);
      if (d.device.epoch !== d.hellos[0]!.epoch) fail(`${name}: the device did not adopt the server's epoch`);
      assertGapless(d, list.seq + 1);
    }
  },
};

const gracefulRestart: BuiltinScenario = {
  name: 'graceful-restart',
  description: 'the instance drains (--restart-cmd): devices get 1012, reconnect after the advised delay and resume with nothing lost or repeated',
  async run(rt) {
    const u = rt.userId('u');
    if (!rt.opts.restartCmd) await rt.restart(); // throws CheckSkipped
    const devices = await Promise.all([rt.connect('d1', u), rt.connect('d2', u)]);
    for (let i = 0; i < 3; i += 1) await rt.must(201, u, 'POST', '/api/drafts', draftBody(), 'writer');
    for (const d of devices) await d.waitFor(() => d.stored().length === 3, rt.ms(LIVE_MS), '3 events before the restart');
    await rt.restart();
    for (const d of devices) await d.waitFor(() => d.closes.some((c) => c.code === 1012), rt.ms(15_000), 'a 1012 close');
    await rt.waitReady(rt.ms(60_000));
    for (const d of devices) await d.waitFor(() => d.hellos.length >= 2, rt.ms(30_000), 'a HELLO after the restart');
    for (let i = 0; i < 3; i += 1) await rt.must(201, u, 'POST', '/api/drafts', draftBody(), 'writer');
    for (const d of devices) {
      await d.waitFor(() => d.stored().length >= 6, rt.ms(LIVE_MS), '3 events after the restart');
      assertGapless(d, 1);
      if (d.resyncs.length > 0) fail(`${d.name}: RESYNC_REQUIRED after a graceful restart (${d.resyncs[0]!.reason})`);
    }
    await quiet(rt, devices, [6, 6], 'across the restart');
  },
};

const jobLifecycle: BuiltinScenario = {
  name: 'job-lifecycle',
  description: 'submitting a pending order: PENDING_UPDATED (submitting), JOB_STARTED, JOB_PROGRESS (transient, no seq), JOB_COMPLETED, ORDER_NUMBERS_RESOLVED, PENDING_UPDATED on every device',
  async run(rt) {
    const u = rt.userId('u');
    const devices = await Promise.all([rt.connect('d1', u), rt.connect('d2', u)]);
    const order = orderBody();
    await rt.must(200, u, 'POST', '/api/pending-orders', { orders: [order] }, 'd1');
    const sub = await rt.must(202, u, 'POST', `/api/pending-orders/${order.id}/submit`, undefined, 'd1');
    const want = ['PENDING_UPDATED', 'JOB_STARTED', 'JOB_COMPLETED', 'ORDER_NUMBERS_RESOLVED', 'PENDING_UPDATED'];
    for (const d of devices) {
      await d.waitFor(() => eventsOf(d, 'PENDING_UPDATED').length >= 2, rt.ms(15_000), 'the job to complete (PENDING_UPDATED)');
      const stored = d.stored().slice(1).map((e) => e.type);
      if (stored.join() !== want.join()) fail(`${d.name}: stored events after PENDING_CREATED should be ${want.join(', ')}; got ${stored.join(', ')}`);
      const progress = eventsOf(d, 'JOB_PROGRESS');
      if (progress.length === 0) fail(`${d.name}: no JOB_PROGRESS`);
      if (progress.some((e) => e.seq !== null)) fail(`${d.name}: JOB_PROGRESS carries a seq (it must be transient)`);
      const types = d.types();
      const iStart = types.indexOf('JOB_STARTED');
      const iDone = types.indexOf('JOB_COMPLETED');
      if (!types.slice(iStart, iDone).includes('JOB_PROGRESS')) fail(`${d.name}: JOB_PROGRESS should come between JOB_STARTED and JOB_COMPLETED; got ${types.join(', ')}`);
      const started = eventsOf(d, 'JOB_STARTED')[0]!.payload as { jobId: string; orderId: string };
      if (started.jobId !== sub.jobId || started.orderId !== order.id) fail(`${d.name}: JOB_STARTED payload ${JSON.stringify(started)}`);
      const done = eventsOf(d, 'JOB_COMPLETED')[0]!.payload as { erpOrderNumber: string };
      const resolved = eventsOf(d, 'ORDER_NUMBERS_RESOLVED')[0]!.payload as { mappings: { orderId: string; erpOrderNumber: string }[] };
      if (resolved.mappings[0]?.orderId !== order.id || resolved.mappings[0]?.erpOrderNumber !== done.erpOrderNumber) {
        fail(`${d.name}: ORDER_NUMBERS_RESOLVED ${JSON.stringify(resolved)} does not match JOB_COMPLETED ${done.erpOrderNumber}`);
      }
      assertGapless(d, 1);
    }
    const stored = await rt.must(200, u, 'GET', `/api/pending-orders/${order.id}`);
    if (stored.status !== 'submitted' || !stored.erpOrderNumber) fail(`the order should be submitted with an ERP number; got ${stored.status}`);
  },
};

export const BUILTINS: readonly BuiltinScenario[] = [reconnectReplay, batchAggregation, convertFlow, isolation, tokenExpiry, resync, gracefulRestart, jobLifecycle];
