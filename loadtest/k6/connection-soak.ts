/**
 * k6: connection soak. Each VU holds one device on `k6/ws` (the long-standing blocking module, in
 * every k6 1.x and 2.x) for HOLD_S seconds, sends an app-level PING every PING_S seconds and
 * measures the PONG round trip, then reconnects; for DURATION. Counts sockets that close with
 * anything but our own 1000 (4408 heartbeat, 4429 slow consumer, 1011, 1012…) and upgrades refused.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:3000 -e JWT_SECRET=… loadtest/k6/connection-soak.ts
 *     [-e VUS=500 -e DURATION=10m -e HOLD_S=120 -e PING_S=20 -e OUT_DIR=loadtest/results]
 */
import { check } from 'k6';
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';
import ws from 'k6/ws';
// @ts-expect-error -- k6 resolves module files literally, so the .ts extension must stay (TS refuses it without allowImportingTsExtensions)
import { tokenFor } from './lib/jwt.ts';
// @ts-expect-error -- k6 resolves module files literally, so the .ts extension must stay (TS refuses it without allowImportingTsExtensions)
import { jUnit, textSummary, type SummaryData } from './lib/summary.ts';

const BASE_URL = (__ENV.BASE_URL ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
const WS_URL = `${BASE_URL.replace(/^http/, 'ws')}/ws/realtime`;
const HOLD_S = Number(__ENV.HOLD_S ?? 120);
const PING_S = Number(__ENV.PING_S ?? 20);
const OUT_DIR = __ENV.OUT_DIR ?? 'loadtest/results';

const pongRtt = new Trend('pong_rtt', true);
const unexpectedClose = new Counter('unexpected_close');
const refused = new Counter('upgrade_refused');

export const options = {
  scenarios: {
    soak: { executor: 'constant-vus', vus: Number(__ENV.VUS ?? 500), duration: __ENV.DURATION ?? '10m', gracefulStop: `${HOLD_S + 10}s` },
  },
  thresholds: {
    unexpected_close: ['count==0'],
    upgrade_refused: ['count==0'],
    pong_rtt: ['p(99)<100'],
    checks: ['rate==1'],
  },
};

export default function device(): void {
  // Ten devices per user: the hub's per-user pools are exercised, not only single sockets.
  const user = `soak-${Math.floor((exec.vu.idInTest - 1) / 10)}`;
  const token = tokenFor(user);
  let closedByUs = false;
  const res = ws.connect(`${WS_URL}?deviceId=soak-${exec.vu.idInTest}`, { headers: { Authorization: `Bearer ${token}` } }, (socket) => {
    let hello = false;
    socket.on('message', (msg: string) => {
      const f = JSON.parse(msg) as { type: string; payload?: { clientTime?: number } };
      if (f.type === 'HELLO') hello = true;
      if (f.type === 'PONG' && typeof f.payload?.clientTime === 'number') pongRtt.add(Date.now() - f.payload.clientTime);
    });
    socket.on('open', () => {
      socket.setInterval(() => socket.send(JSON.stringify({ type: 'PING', payload: { clientTime: Date.now() } })), PING_S * 1000);
      socket.setTimeout(() => {
        check(hello, { 'HELLO received': (h) => h });
        closedByUs = true;
        socket.close(1000);
      }, HOLD_S * 1000);
    });
    socket.on('close', (code: number) => {
      if (!closedByUs && code !== 1000) unexpectedClose.add(1, { code: String(code) });
    });
  });
  if (!res || res.status !== 101) refused.add(1, { status: String(res ? res.status : 0) });
}

export function handleSummary(data: SummaryData): Record<string, string> {
  return {
    stdout: textSummary(data, { indent: ' ' }),
    [`${OUT_DIR}/k6-connection-soak.json`]: JSON.stringify(data, null, 2),
    [`${OUT_DIR}/k6-connection-soak.junit.xml`]: jUnit(data, { name: 'k6 connection soak' }),
  };
}
