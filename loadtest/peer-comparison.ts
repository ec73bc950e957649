/**
 * Our service against a Socket.IO server doing the same job, in one run, same machine, same client.
 *
 * Scenario (lib/multi-device.ts): U users × D observer devices; one writer per user posts changes
 * over HTTP at a fixed total rate (open loop); latency = observer arrival minus the write's due time.
 * Then the rate is stepped up (bounded list) until p99 > 100 ms, or an error, or a missing event: the
 * last passing step is the "max sustained writes/s". RSS per connection = the server's VmRSS growth
 * while the observers connect, divided by their number.
 *
 * The Socket.IO peer (peers/socketio-server.ts) has NO database: each POST is broadcast straight to
 * the user's room. Ours commits every write (PGlite in memory here) before publishing it.
 *
 *   npx tsx loadtest/peer-comparison.ts [--users 100] [--devices 3] [--rate 100] [--seconds 8]
 *                                       [--steps 50,100,200,400,800,1600] [--step-seconds 4]
 */
import { parseArgs } from 'node:util';
import { isMain, runMain, writeResult } from './lib/cli.js';
import { connectMultiDevice, ourService, runStep, socketIoPeer, stepPasses, type StepReport, type Target } from './lib/multi-device.js';
import { fmtMs, round } from './lib/stats.js';

export interface PeerOptions {
  users: number;
  devices: number;
  rate: number;
  seconds: number;
  steps: number[];
  stepSeconds: number;
}

export interface PeerReport {
  target: string;
  database: string;
  users: number;
  devicesPerUser: number;
  connections: number;
  connectSeconds: number;
  rssPerConnectionKb: number | null;
  liveHeapPerConnectionKb: number | null;
  rssBeforeKb: number | null;
  rssAfterKb: number | null;
  main: StepReport;
  steps: StepReport[];
  maxSustainedWritesPerSec: number;
}

export interface PeerComparison {
  options: PeerOptions;
  reports: PeerReport[];
  ratios: { metric: string; ours: number | null; socketio: number | null; ratio: number | null }[];
}

/** One target through the multi-device scenario: connect, the main rate, then the steps until one fails. */
export async function measurePeer(make: () => Promise<Target>, database: string, o: PeerOptions, log: (s: string) => void): Promise<PeerReport> {
  const target = await make();
  try {
    const setup = await connectMultiDevice(target, o.users, o.devices);
    try {
      log(`${target.name} (${database}): ${setup.connections} observers connected in ${setup.connectSeconds} s, RSS ${setup.rssBeforeKb} → ${setup.rssAfterKb} KiB (${setup.rssPerConnectionKb} KiB/connection; live JS heap ${setup.liveHeapPerConnectionKb} KiB/connection)`);
      const main = await runStep(target, setup, o.rate, o.seconds);
      log(`  ${o.rate} writes/s: ${fmtMs(main.latency)}; errors ${main.errors}, missing ${main.missing}`);
      const steps: StepReport[] = [];
      let maxSustained = 0;
      for (const rate of o.steps) {
        const s = await runStep(target, setup, rate, o.stepSeconds);
        steps.push(s);
        const ok = stepPasses(s);
        log(`  step ${rate}/s: p99 ${s.latency.p99.toFixed(2)} ms, errors ${s.errors}, missing ${s.missing}, writer lateness ${s.maxSendLatenessMs} ms ${ok ? 'pass' : 'FAIL'}`);
        if (!ok) break;
        maxSustained = rate;
      }
      return {
        target: target.name,
        database,
        users: o.users,
        devicesPerUser: o.devices,
        connections: setup.connections,
        connectSeconds: setup.connectSeconds,
        rssPerConnectionKb: setup.rssPerConnectionKb,
        liveHeapPerConnectionKb: setup.liveHeapPerConnectionKb,
        rssBeforeKb: setup.rssBeforeKb,
        rssAfterKb: setup.rssAfterKb,
        main,
        steps,
        maxSustainedWritesPerSec: maxSustained,
      };
    } finally {
      setup.close();
    }
  } finally {
    await target.stop();
  }
}

export async function runPeerComparison(o: PeerOptions, log: (s: string) => void = console.log): Promise<PeerComparison> {
  const ours = await measurePeer(() => ourService(), process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite in memory, every write committed', o, log);
  const theirs = await measurePeer(() => socketIoPeer(), 'none: broadcast only', o, log);
  const row = (metric: string, a: number | null, b: number | null) => ({ metric, ours: a, socketio: b, ratio: a !== null && b !== null && b !== 0 ? round(a / b) : null });
  const ratios = [
    row('p50 ms', ours.main.latency.p50, theirs.main.latency.p50),
    row('p99 ms', ours.main.latency.p99, theirs.main.latency.p99),
    row('p99.9 ms', ours.main.latency.p99_9, theirs.main.latency.p99_9),
    row('max sustained writes/s', ours.maxSustainedWritesPerSec, theirs.maxSustainedWritesPerSec),
    row('RSS KiB per connection', ours.rssPerConnectionKb, theirs.rssPerConnectionKb),
    row('live JS heap KiB per connection', ours.liveHeapPerConnectionKb, theirs.liveHeapPerConnectionKb),
  ];
  return { options: o, reports: [ours, theirs], ratios };
}

export function printRatios(c: PeerComparison, log: (s: string) => void = console.log): void {
  log(`\n| metric (${c.options.users} users × ${c.options.devices} devices, ${c.options.rate} writes/s) | ours | socket.io | ours / socket.io |`);
  log('|---|---|---|---|');
  for (const r of c.ratios) log(`| ${r.metric} | ${r.ours ?? 'n/a'} | ${r.socketio ?? 'n/a'} | ${r.ratio ?? 'n/a'} |`);
  const steps = c.options.steps;
  const capped = c.reports.filter((r) => r.maxSustainedWritesPerSec === steps[steps.length - 1]).map((r) => r.target);
  if (capped.length) log(`(${capped.join(', ')}: passed every step; the real maximum is higher than ${steps[steps.length - 1]}/s)`);
  const none = c.reports.filter((r) => r.maxSustainedWritesPerSec === 0).map((r) => r.target);
  if (none.length) log(`(${none.join(', ')}: failed the first step; max sustained is below ${steps[0]}/s)`);
  log('Note: the Socket.IO peer has no database (broadcast only); ours commits each write before fan-out. Client and servers share 2 cores.');
}

if (isMain(import.meta.url)) {
  runMain('peer-comparison', async () => {
    const { values } = parseArgs({
      options: {
        users: { type: 'string', default: '100' },
        devices: { type: 'string', default: '3' },
        rate: { type: 'string', default: '100' },
        seconds: { type: 'string', default: '8' },
        steps: { type: 'string', default: '50,100,200,400,800,1600' },
        'step-seconds': { type: 'string', default: '4' },
      },
    });
    const o: PeerOptions = {
      users: Number(values.users),
      devices: Number(values.devices),
      rate: Number(values.rate),
      seconds: Number(values.seconds),
      steps: values.steps.split(',').map(Number),
      stepSeconds: Number(values['step-seconds']),
    };
    const c = await runPeerComparison(o);
    printRatios(c);
    console.log(`results: ${writeResult('peer-comparison', c)}`);
  });
}
