/**
 * A fair peer: our service against Socket.IO doing the same durable write, and against the
 * broadcast-only Socket.IO of peer-comparison.ts, under the same load (lib/multi-device.ts: U users
 * × D observers, one HTTP writer per user, open-loop draft creates), the same observers and the same
 * histogram (due time → arrival on the slowest-to-count observer, per observer and write).
 *
 * - archibald-realtime: the built service on a throwaway PostgreSQL with fsync on.
 * - Socket.IO + PostgreSQL: peers/socketio-server.ts with DATABASE_URL: each POST commits the
 *   service's own `rt_draft_create` transaction (same function, same prepared statement, same pool
 *   size) on its own throwaway PostgreSQL with fsync on, then emits the appended events to the
 *   user's room; connection state recovery on.
 * - Socket.IO, no database: the broadcast-only peer (nothing stored).
 * Each runs alone, in turn: a fixed rate, then a bounded list of steps until one fails.
 *
 *   npx tsx loadtest/fair-peer.ts [--users 100] [--devices 3] [--rate 300] [--seconds 15] [--steps 300,600,900,1200] [--step-seconds 5]
 */
import { parseArgs } from 'node:util';
import { ensureBuilt } from './lib/build.js';
import { isMain, runMain, writeResult } from './lib/cli.js';
import { handleInterrupts, type Interrupt } from './lib/interrupt.js';
import { ourService, socketIoPeer, type Target } from './lib/multi-device.js';
import { BENCH_SERVICE_ENV, startDatabase } from './lib/stack.js';
import { round } from './lib/stats.js';
import { measurePeer, type PeerOptions, type PeerReport } from './peer-comparison.js';

export interface FairPeerReport {
  options: PeerOptions;
  reports: PeerReport[];
  ratios: { metric: string; ours: number | null; socketioPg: number | null; socketio: number | null; vsSocketioPg: number | null; vsSocketio: number | null }[];
}

export const OURS = 'archibald-realtime';
export const SOCKETIO_PG = 'Socket.IO + PostgreSQL';
export const SOCKETIO = 'Socket.IO, no database';

/** A target on its own durable PostgreSQL, removed when the target stops. */
async function withDatabase(interrupt: Interrupt, migrate: boolean, make: (url: string) => Promise<Target>): Promise<Target> {
  const db = await startDatabase(interrupt, { migrate });
  try {
    const t = await make(db.url);
    return { ...t, stop: () => t.stop().finally(() => db.stop()) };
  } catch (err) {
    db.stop();
    throw err;
  }
}

export async function runFairPeer(o: PeerOptions, interrupt: Interrupt, log: (line: string) => void = console.log): Promise<FairPeerReport> {
  const targets: [string, string, () => Promise<Target>][] = [
    [OURS, 'PostgreSQL 15, fsync on: rt_draft_create, outbox, replay log', () => withDatabase(interrupt, false, (url) => ourService({ ...BENCH_SERVICE_ENV, DATABASE_URL: url }, { built: true, name: OURS }))],
    [SOCKETIO_PG, 'PostgreSQL 15, fsync on: the same rt_draft_create call, then emit', () => withDatabase(interrupt, true, (url) => socketIoPeer({ DATABASE_URL: url }, SOCKETIO_PG))],
    [SOCKETIO, 'none: broadcast only', () => socketIoPeer({}, SOCKETIO)],
  ];
  const reports: PeerReport[] = [];
  for (const [, database, make] of targets) {
    interrupt.check();
    reports.push(await measurePeer(make, database, o, log));
  }
  const [ours, pgPeer, bare] = reports as [PeerReport, PeerReport, PeerReport];
  const ratio = (a: number | null, b: number | null) => (a !== null && b !== null && b !== 0 ? round(a / b) : null);
  const row = (metric: string, pick: (r: PeerReport) => number | null) => {
    const [a, b, c] = [pick(ours), pick(pgPeer), pick(bare)];
    return { metric, ours: a, socketioPg: b, socketio: c, vsSocketioPg: ratio(a, b), vsSocketio: ratio(a, c) };
  };
  const ratios = [
    row(`p50 ms at ${o.rate}/s`, (r) => r.main.latency.p50),
    row(`p99 ms at ${o.rate}/s`, (r) => r.main.latency.p99),
    row(`p99.9 ms at ${o.rate}/s`, (r) => r.main.latency.p99_9),
    row('max sustained writes/s', (r) => r.maxSustainedWritesPerSec),
  ];
  return { options: o, reports, ratios };
}

export function printFairPeer(r: FairPeerReport, log: (line: string) => void = console.log): void {
  log(`\n| metric (${r.options.users} users × ${r.options.devices} devices) | ours | ${SOCKETIO_PG} | ${SOCKETIO} | ours / Socket.IO+PG | ours / Socket.IO |`);
  log('|---|---|---|---|---|---|');
  for (const x of r.ratios) log(`| ${x.metric} | ${x.ours ?? 'n/a'} | ${x.socketioPg ?? 'n/a'} | ${x.socketio ?? 'n/a'} | ${x.vsSocketioPg ?? 'n/a'} | ${x.vsSocketio ?? 'n/a'} |`);
}

if (isMain(import.meta.url)) {
  const interrupt = handleInterrupts();
  runMain('fair-peer', async () => {
    const { values } = parseArgs({
      options: {
        users: { type: 'string', default: '100' },
        devices: { type: 'string', default: '3' },
        rate: { type: 'string', default: '300' },
        seconds: { type: 'string', default: '15' },
        steps: { type: 'string', default: '300,600,900,1200,1600' },
        'step-seconds': { type: 'string', default: '5' },
      },
    });
    ensureBuilt();
    const r = await runFairPeer(
      {
        users: Number(values.users),
        devices: Number(values.devices),
        rate: Number(values.rate),
        seconds: Number(values.seconds),
        steps: values.steps.split(',').map(Number),
        stepSeconds: Number(values['step-seconds']),
      },
      interrupt,
    );
    printFairPeer(r);
    console.log(`results: ${writeResult('fair-peer', r)}`);
  }, interrupt);
}
