/**
 * A child of cluster-scale.ts holding a slice of the devices (users [USER_FROM, USER_TO), every
 * device of a user in the same worker) as raw `ws` clients bound to this worker's loopback source
 * addresses. Unlike scale-worker.ts these devices behave as the client library's do where the run
 * measures it: each tracks `lastSeq` and `epoch` from HELLO and the events, and a socket closed by
 * the service is reopened as `client/src/realtime/reconnect-policy.ts` decides (the same class: the
 * 1012 reason's `retryAfterMs`, URL rotation, backoff), resuming with `lastSeq` + `epoch`.
 *
 * Device i (global index) belongs to user floor(i / DEVICES_PER_USER) and connects first to
 * instance i mod N; its fallback order is the other instances rotated by i, so the devices of one
 * stopped instance spread over all the others instead of landing on its neighbour.
 *
 * A draft whose `notes` is `r=<round>;due=<epoch ms>` was written by the parent at that due time
 * (open loop): its arrival records `now - due` in that round's latencies.
 *
 * IPC, each request `{ id, cmd, … }` answered with `{ id, … }`:
 *   connect { from, to } (local device offsets) → { ok, failed, seconds }
 *   status → counters (open, down, closes by code, reconnects, lastBackAt, instance counts, …)
 *   collect { round } → { latencies } (and forgets them)
 *   verify { expected } (expected lastSeq per user of this worker, from USER_FROM) → { atExpected, missing, ahead, devices }
 *   close → every socket closed; the worker exits
 * It exits by itself after MAX_MS, or when the parent goes away.
 */
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { ReconnectPolicy } from '../../client/src/realtime/reconnect-policy.js';
import { deviceInstanceOrder } from './cluster-status.js';

const env = (k: string): string => {
  const v = process.env[k];
  if (v === undefined) throw new Error(`cluster-worker: ${k} missing`);
  return v;
};
const perUser = Number(env('DEVICES_PER_USER'));
const userFrom = Number(env('USER_FROM'));
const deviceFrom = userFrom * perUser;
const deviceTo = Number(env('DEVICE_TO'));
const urls = env('URLS').split(',');
const instanceIds = env('INSTANCE_IDS').split(',');
const addrs = env('ADDRS').split(',');
const run = env('RUN_ID');
const key = new TextEncoder().encode(env('SECRET'));
const inflight = Number(process.env.CONCURRENCY ?? '100');
const helloTimeoutMs = Number(process.env.HELLO_TIMEOUT_MS ?? '30000');
setTimeout(() => process.exit(2), Number(process.env.MAX_MS ?? '1200000')).unref();

const n = deviceTo - deviceFrom;
const nowMs = () => performance.timeOrigin + performance.now();
const sockets: (WebSocket | null)[] = new Array<WebSocket | null>(n).fill(null);
const lastSeq = new Int32Array(n);
const epochs: (string | undefined)[] = new Array<string | undefined>(n);
/** The instance (index into INSTANCE_IDS) of the device's current connection, from HELLO; 255 none. */
const onInstance = new Uint8Array(n).fill(255);
/** The device reached HELLO at least once: it counts in every check from then on. */
const tracked = new Uint8Array(n);
const policies = new Map<number, ReconnectPolicy>();
const indexOf = new WeakMap<WebSocket, number>();
const tokens = new Map<number, string>();
const latencies = new Map<string, number[]>();
const counters = {
  closesByCode: {} as Record<string, number>,
  connectFailures: 0,
  /** Failed (re)connect attempts by cause: an HTTP status of the refused upgrade, or the socket error's code. */
  failuresByCause: {} as Record<string, number>,
  reconnects: 0,
  stopped: 0,
  resyncs: 0,
  gaps: 0,
  gapEvents: 0,
  duplicates: 0,
  lastBackAt: 0,
};
let closing = false;
const pendingHello = new Map<number, (ok: boolean) => void>();

async function token(user: number): Promise<string> {
  let t = tokens.get(user);
  if (!t) {
    t = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(`scale-${run}-${user}`).setExpirationTime('3h').sign(key);
    tokens.set(user, t);
  }
  return t;
}

/** Primary instance first, then the others rotated by the device index (see the header). */
function urlsOf(k: number): string[] {
  return deviceInstanceOrder(deviceFrom + k, urls.length).map((j) => urls[j]!);
}

function onMessage(this: WebSocket, data: WebSocket.RawData): void {
  const k = indexOf.get(this);
  if (k === undefined) return;
  let f: { type: string; seq?: number; payload?: Record<string, unknown> };
  try {
    f = JSON.parse(String(data)) as typeof f;
  } catch {
    return;
  }
  if (f.type === 'HELLO') return onHello(k, f.payload as { epoch: string; instanceId: string });
  if (f.type === 'RESYNC_REQUIRED') {
    counters.resyncs += 1;
    return;
  }
  if (typeof f.seq === 'number') {
    const expected = lastSeq[k]! + 1;
    if (f.seq < expected) {
      counters.duplicates += 1;
      return;
    }
    if (f.seq > expected) {
      counters.gaps += 1;
      counters.gapEvents += f.seq - expected;
    }
    lastSeq[k] = f.seq;
  }
  if (f.type === 'DRAFT_CREATED') {
    const notes = (f.payload?.draft as { notes?: string | null } | undefined)?.notes;
    const m = notes ? /^r=([^;]+);due=([\d.]+)$/.exec(notes) : null;
    if (m) {
      let l = latencies.get(m[1]!);
      if (!l) latencies.set(m[1]!, (l = []));
      l.push(nowMs() - Number(m[2]));
    }
  }
}

function onHello(k: number, hello: { epoch: string; instanceId: string }): void {
  if (tracked[k]) {
    counters.reconnects += 1;
    counters.lastBackAt = Math.max(counters.lastBackAt, nowMs());
  }
  tracked[k] = 1;
  epochs[k] = hello.epoch;
  const inst = instanceIds.indexOf(hello.instanceId);
  onInstance[k] = inst < 0 ? 254 : inst;
  policies.get(k)?.established();
  const done = pendingHello.get(k);
  pendingHello.delete(k);
  done?.(true);
}

function onClose(this: WebSocket, code: number, reason: Buffer): void {
  const k = indexOf.get(this);
  if (k === undefined || sockets[k] !== this) return;
  sockets[k] = null;
  onInstance[k] = 255;
  if (closing) return;
  counters.closesByCode[code] = (counters.closesByCode[code] ?? 0) + 1;
  pendingHello.get(k)?.(false);
  pendingHello.delete(k);
  if (!tracked[k]) return;
  let policy = policies.get(k);
  if (!policy) {
    policies.set(k, (policy = new ReconnectPolicy({ urls: urlsOf(k), canRenew: true })));
    policy.opened();
  }
  decide(k, policy, policy.afterClose(code, String(reason)));
}

function decide(k: number, policy: ReconnectPolicy, d: ReturnType<ReconnectPolicy['afterClose']>): void {
  if (d.kind === 'stop') {
    counters.stopped += 1;
    return;
  }
  if (d.kind === 'renew') tokens.delete(Math.floor((deviceFrom + k) / perUser));
  const { delayMs } = policy.next(d.kind === 'renew' ? 0 : d.delayMs);
  setTimeout(() => void reopen(k, policy), delayMs);
}

/** Open device k's socket to `url`; resolves once the upgrade succeeded (true) or failed (the error text). */
async function open(k: number, url: string): Promise<true | string> {
  const i = deviceFrom + k;
  const q = new URLSearchParams({ deviceId: `d${i % perUser}` });
  if (epochs[k] !== undefined) {
    q.set('lastSeq', String(lastSeq[k]));
    q.set('epoch', epochs[k]);
  }
  const ws = new WebSocket(`${url}?${q}`, {
    headers: { authorization: `Bearer ${await token(Math.floor(i / perUser))}` },
    localAddress: addrs[k % addrs.length],
    perMessageDeflate: false,
  });
  indexOf.set(ws, k);
  sockets[k] = ws;
  return new Promise((resolve) => {
    let opened = false;
    let lastError = '';
    ws.on('message', onMessage);
    ws.on('error', (err: Error) => {
      lastError = err.message;
    });
    ws.once('open', () => {
      opened = true;
      resolve(true);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      if (opened) return onClose.call(ws, code, reason);
      if (sockets[k] === ws) sockets[k] = null;
      resolve(lastError || `closed before open (${code})`);
    });
  });
}

async function reopen(k: number, policy: ReconnectPolicy): Promise<void> {
  if (closing) return;
  const r = await open(k, policy.url);
  if (r === true) return;
  counters.connectFailures += 1;
  const cause = /Unexpected server response: (\d{3})/.exec(r)?.[1] ?? /\b(E[A-Z]+)\b/.exec(r)?.[1] ?? r.slice(0, 40);
  counters.failuresByCause[cause] = (counters.failuresByCause[cause] ?? 0) + 1;
  decide(k, policy, policy.afterConnectFailure(r));
}

/** The first connection of device k: true once HELLO came. */
async function connectOne(k: number): Promise<boolean> {
  const hello = new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), helloTimeoutMs);
    pendingHello.set(k, (ok) => {
      clearTimeout(t);
      resolve(ok);
    });
  });
  const r = await open(k, urlsOf(k)[0]!);
  if (r !== true) {
    pendingHello.delete(k);
    return false;
  }
  return hello;
}

async function connect(from: number, to: number) {
  const t0 = performance.now();
  let next = from;
  let ok = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: Math.min(inflight, to - from) }, async () => {
      while (next < to) {
        const k = next++;
        if (await connectOne(k)) ok += 1;
        else failed += 1;
      }
    }),
  );
  return { ok, failed, seconds: (performance.now() - t0) / 1000 };
}

function status() {
  let open = 0;
  let down = 0;
  const perInstance = new Array<number>(instanceIds.length).fill(0);
  for (let k = 0; k < n; k += 1) {
    if (!tracked[k]) continue;
    if (onInstance[k]! < instanceIds.length) {
      open += 1;
      perInstance[onInstance[k]!]! += 1;
    } else down += 1;
  }
  return { open, down, perInstance, ...counters };
}

function verify(expected: number[]) {
  let atExpected = 0;
  let missing = 0;
  let ahead = 0;
  let devices = 0;
  for (let k = 0; k < n; k += 1) {
    if (!tracked[k]) continue;
    devices += 1;
    const want = expected[Math.floor((deviceFrom + k) / perUser) - userFrom] ?? 0;
    if (lastSeq[k] === want) atExpected += 1;
    else if (lastSeq[k]! < want) missing += want - lastSeq[k]!;
    else ahead += 1;
  }
  return { atExpected, missing: missing + counters.gapEvents, ahead, devices };
}

type Request = { id: number; cmd: string; from?: number; to?: number; round?: string; expected?: number[] };

async function handle(m: Request): Promise<Record<string, unknown>> {
  switch (m.cmd) {
    case 'connect':
      return connect(m.from!, m.to!);
    case 'status':
      return status();
    case 'collect': {
      const l = latencies.get(m.round!) ?? [];
      latencies.delete(m.round!);
      return { latencies: l };
    }
    case 'verify':
      return verify(m.expected!);
    case 'close':
      closing = true;
      for (const s of sockets) s?.terminate();
      return {};
    default:
      throw new Error(`unknown command ${m.cmd}`);
  }
}

process.on('message', (m: Request) => {
  handle(m).then(
    (r) => process.send!({ id: m.id, ...r }, () => (m.cmd === 'close' ? process.exit(0) : undefined)),
    (err: unknown) => {
      console.error(`cluster-worker: ${String(err)}`);
      process.exit(1);
    },
  );
});
process.on('disconnect', () => process.exit(0));
// Loaded (tsx, ws, jose): the parent starts its clock from here, not from the spawn.
process.send!({ type: 'ready' });
