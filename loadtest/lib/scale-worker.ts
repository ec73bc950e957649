/**
 * A child of connection-scale.ts that holds a slice of the bulk connections: raw `ws` clients (no
 * device client, to keep the load generator light), spread over several loopback source addresses
 * so the 4-tuple space is not exhausted. Started by the parent under `sh -c 'ulimit -n …; exec …'`
 * so it may hold more sockets than the parent's limit. Talks to the parent over IPC:
 *   ← { cmd: 'connect', from, to } → { type: 'connected', ok, failed, seconds } once every socket of
 *     [from, to) was tried (the parent connects in two phases, see connection-scale.ts)
 *   ← { cmd: 'snapshot' } → { type: 'snapshot', deliveries, unexpectedCloses }
 *   ← { cmd: 'close' }    → closes every socket and exits
 * It exits by itself after MAX_MS whatever happens.
 */
import { SignJWT } from 'jose';
import WebSocket from 'ws';

const env = (k: string): string => {
  const v = process.env[k];
  if (v === undefined) throw new Error(`scale-worker: ${k} missing`);
  return v;
};
const devices = Number(env('DEVICES'));
const addrs = Number(env('ADDRS'));
const wsUrl = env('WS_URL');
const run = env('RUN_ID');
const key = new TextEncoder().encode(env('SECRET'));
const inflight = Number(process.env.CONCURRENCY ?? '100');
setTimeout(() => process.exit(2), Number(process.env.MAX_MS ?? '600000')).unref();

const sockets: WebSocket[] = [];
let deliveries = 0;
let unexpectedCloses = 0;
let closing = false;
const tokens = new Map<number, string>();

// Module-level listeners, not closures per socket (the hot path habit of ws).
function onMessage(data: WebSocket.RawData): void {
  // Count changes without parsing JSON: the type is near the start of every frame.
  if (String(data).startsWith('{"type":"DRAFT_CREATED"')) deliveries += 1;
}
function onClose(): void {
  if (!closing) unexpectedCloses += 1;
}

async function token(user: number): Promise<string> {
  let t = tokens.get(user);
  if (!t) {
    t = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(`scale-${run}-${user}`).setExpirationTime('2h').sign(key);
    tokens.set(user, t);
  }
  return t;
}

async function open(i: number): Promise<boolean> {
  const user = Math.floor(i / devices);
  const ws = new WebSocket(`${wsUrl}?deviceId=d${i % devices}`, {
    headers: { authorization: `Bearer ${await token(user)}` },
    localAddress: `127.0.0.${2 + (i % addrs)}`,
    perMessageDeflate: false,
  });
  return new Promise((resolve) => {
    ws.once('open', () => {
      ws.on('message', onMessage);
      ws.on('close', onClose);
      sockets.push(ws);
      resolve(true);
    });
    ws.once('error', () => resolve(false));
  });
}

async function connect(start: number, end: number): Promise<void> {
  const t0 = performance.now();
  let next = start;
  let ok = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: Math.min(inflight, end - start) }, async () => {
      while (next < end) {
        const i = next++;
        if (await open(i)) ok += 1;
        else failed += 1;
      }
    }),
  );
  process.send!({ type: 'connected', ok, failed, seconds: (performance.now() - t0) / 1000 });
}

process.on('message', (m: { cmd: string; from?: number; to?: number }) => {
  if (m.cmd === 'connect')
    connect(m.from!, m.to!).catch((err: unknown) => {
      console.error(`scale-worker: ${String(err)}`);
      process.exit(1);
    });
  if (m.cmd === 'snapshot') process.send!({ type: 'snapshot', deliveries, unexpectedCloses });
  if (m.cmd === 'close') {
    closing = true;
    for (const s of sockets) s.terminate();
    process.send!({ type: 'closed' }, () => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
