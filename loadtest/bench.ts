/**
 * `npm run bench`: every scenario at a size that fits a shared 2-core machine in a few minutes, one
 * JSON file and one Markdown summary with SVG plots (loadtest/results/<date>.{json,md}, <date>-*.svg).
 *
 *   npm run bench [-- --skip-scale] [--connections 10000] [--rest-rate 50] [--rest-seconds 10]
 *                 [--peer-users 200] [--peer-devices 4] [--peer-rate 50]
 *   npm run bench -- --quick     a smoke run of everything in about a minute (figures not meaningful)
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runConnectionScale, type ScaleReport } from './connection-scale.js';
import { isMain, RESULTS_DIR, runMain, stamp } from './lib/cli.js';
import { printRestReport, runRestScenario, type RestScenarioReport } from './lib/rest-scenario.js';
import { startService, stopService, storageLabel } from './lib/service.js';
import { barChart, lineChart, percentileChart } from './lib/svg.js';
import { printRatios, runPeerComparison, type PeerComparison } from './peer-comparison.js';

export interface BenchReport {
  schema: 'archibald-realtime/bench@1';
  date: string;
  machine: { cpus: number; cpuModel: string; memoryGb: number; node: string };
  storage: string;
  rest: RestScenarioReport[];
  peer: PeerComparison;
  scale: ScaleReport | null;
  seconds: number;
}

const ms = (v: number) => v.toFixed(2);

/** The Markdown summary and its plots, written beside it. */
export function writeBenchReport(r: BenchReport, dir = RESULTS_DIR): { md: string; json: string; svgs: string[] } {
  mkdirSync(dir, { recursive: true });
  const base = r.date;
  const svgs: [string, string][] = [];
  const svg = (name: string, content: string) => {
    const file = `${base}-${name}.svg`;
    svgs.push([file, content]);
    return file;
  };
  const lines: string[] = [];
  lines.push(`# Bench ${r.date}`, '');
  lines.push(`${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGb} GB, Node ${r.machine.node}; storage: ${r.storage}. Load generator and servers share the machine. Took ${Math.round(r.seconds)} s.`, '');
  lines.push('Latency is always measured from the moment a write was **due** on the writer’s schedule (open loop) to its arrival on an observer device, on one monotonic clock (DESIGN §8).', '');

  if (r.rest.length) {
    const f = svg('rest-fanout', percentileChart('Fan-out latency while REST is loaded (due → observer)', r.rest.map((x) => ({ name: x.scenario, cdf: x.fanout.cdf }))));
    const b = svg(
      'rest',
      barChart({
        title: 'REST writes under autocannon: latency from due time',
        yLabel: 'ms',
        categories: r.rest.map((x) => x.scenario),
        series: [
          { name: 'REST p50', values: r.rest.map((x) => x.rest.fromSchedule.p50) },
          { name: 'REST p99', values: r.rest.map((x) => x.rest.fromSchedule.p99) },
          { name: 'fan-out p99', values: r.rest.map((x) => x.fanout.p99) },
        ],
      }),
    );
    lines.push('## REST under autocannon, with observers', '');
    lines.push(`One autocannon connection per user, one write per user per second (${r.rest.map((x) => `${x.scenario} ${x.rate}/s`).join(', ')}; ${r.rest[0]!.seconds} s each), ${r.rest[0]!.observersPerUser} observer devices per user. "autocannon" columns are autocannon's own histogram, corrected for coordinated omission; the others are from each request's due time.`, '');
    lines.push(`![fan-out latency by percentile](${f})`, '', `![REST and fan-out latency](${b})`, '');
    lines.push('| scenario | REST p50 | p90 | p99 | p99.9 | max | autocannon p50 / p99 / max | req/s | errors | fan-out p50 | p99 | max | delivered | missing |');
    lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const x of r.rest) {
      const s = x.rest.fromSchedule;
      const a = x.rest.autocannon;
      lines.push(
        `| ${x.scenario} | ${ms(s.p50)} | ${ms(s.p90)} | ${ms(s.p99)} | ${ms(s.p99_9)} | ${ms(s.max)} | ${a.p50} / ${a.p99} / ${a.max} | ${x.rest.throughputPerSec} | ${x.rest.errors + x.rest.non2xx + x.rest.timeouts} | ${ms(x.fanout.p50)} | ${ms(x.fanout.p99)} | ${ms(x.fanout.max)} | ${x.counters.delivered}/${x.counters.expected} | ${x.counters.missing} |`,
      );
    }
    lines.push('', 'All times in ms.', '');
  }

  const [ours, theirs] = r.peer.reports;
  if (ours && theirs) {
    const o = r.peer.options;
    const l = svg('peer-latency', percentileChart(`Schedule → arrival at ${o.rate} writes/s, ${o.users} users × ${o.devices} devices`, [
      { name: `archibald-realtime (${ours.database})`, cdf: ours.main.cdf },
      { name: 'Socket.IO (no database)', cdf: theirs.main.cdf },
    ]));
    const steps = svg('peer-steps', lineChart({
      title: 'p99 latency as the write rate steps up (stops at the first failing step)',
      x: { label: 'offered writes/s', log: true },
      y: { label: 'p99 latency (ms)', log: true },
      series: [
        { name: 'archibald-realtime', points: ours.steps.map((s) => [s.rate, Math.max(0.1, s.latency.p99)] as const) },
        { name: 'Socket.IO (no database)', points: theirs.steps.map((s) => [s.rate, Math.max(0.1, s.latency.p99)] as const) },
        { name: 'limit: p99 100 ms', points: o.steps.filter((s) => s <= Math.max(...[...ours.steps, ...theirs.steps].map((x) => x.rate))).map((s) => [s, 100] as const) },
      ],
    }));
    const tp = svg('peer-throughput', barChart({
      title: 'Max sustained writes/s (p99 ≤ 100 ms, no error, nothing missing)',
      yLabel: 'writes/s',
      categories: [`${o.users} users × ${o.devices} devices`],
      series: [
        { name: 'archibald-realtime', values: [ours.maxSustainedWritesPerSec] },
        { name: 'Socket.IO (no database)', values: [theirs.maxSustainedWritesPerSec] },
      ],
      width: 480,
    }));
    lines.push('## Peer comparison: archibald-realtime against Socket.IO', '');
    lines.push(`${o.users} users × ${o.devices} observer devices; one HTTP writer per user, ${o.rate} writes/s in total for ${o.seconds} s, then steps ${o.steps.join(', ')}/s of ${o.stepSeconds} s each. The Socket.IO server (rooms per user, connectionStateRecovery on) has **no database**: it broadcasts each POST; ours commits each write (${ours.database}) before fan-out.`, '');
    lines.push(`![latency by percentile, ours vs Socket.IO](${l})`, '', `![p99 against rate](${steps})`, '', `![max sustained writes/s](${tp})`, '');
    lines.push('| metric | archibald-realtime | Socket.IO | ours / Socket.IO |', '|---|---|---|---|');
    for (const x of r.peer.ratios) lines.push(`| ${x.metric} | ${x.ours ?? 'n/a'} | ${x.socketio ?? 'n/a'} | ${x.ratio ?? 'n/a'} |`);
    const last = o.steps[o.steps.length - 1];
    for (const t of [ours, theirs]) if (t.maxSustainedWritesPerSec === last) lines.push('', `${t.target} passed every step: its maximum is above ${last}/s (or the load generator's).`);
    for (const t of [ours, theirs]) if (t.maxSustainedWritesPerSec === 0) lines.push('', `${t.target} failed the first step: its maximum is below ${o.steps[0]}/s.`);
    lines.push('', '| target | step writes/s | p50 | p99 | p99.9 | max | errors | missing | writer lateness ms |', '|---|---|---|---|---|---|---|---|---|');
    for (const t of [ours, theirs]) for (const s of [t.main, ...t.steps]) lines.push(`| ${t.target} | ${s.rate} | ${ms(s.latency.p50)} | ${ms(s.latency.p99)} | ${ms(s.latency.p99_9)} | ${ms(s.latency.max)} | ${s.errors} | ${s.missing} | ${s.maxSendLatenessMs} |`);
    lines.push('', 'Writer lateness is how late the load generator sent its latest write; when it grows, the client machine, not only the server, is saturated.', '');
  }

  if (r.scale) {
    const s = r.scale;
    lines.push('## Connection scale (one instance)', '');
    lines.push('| devices | users × devices | connect rate | failed | RSS per connection | heartbeat CPU | fan-out deliveries/s | missing |', '|---|---|---|---|---|---|---|---|');
    lines.push(`| ${s.connections} | ${s.users} × ${s.devicesPerUser} | ${s.connectRatePerSec}/s | ${s.failed} | ${s.rss.perConnectionKb} KiB | ${s.heartbeat.cpuPercentOfOneCore}% of a core at ${s.heartbeat.heartbeatMs} ms pings (${s.heartbeat.cpuUsPerConnectionPerRound} µs/connection/round) | ${s.fanout.deliveriesPerSec} | ${s.fanout.missing} |`);
    if (s.fdLimit.note) lines.push('', `Note: ${s.fdLimit.note}.`);
    lines.push('');
  }
  const md = join(dir, `${base}.md`);
  const json = join(dir, `${base}.json`);
  for (const [file, content] of svgs) writeFileSync(join(dir, file), content);
  writeFileSync(md, `${lines.join('\n')}\n`);
  writeFileSync(json, `${JSON.stringify(r, null, 2)}\n`);
  return { md, json, svgs: svgs.map(([f]) => join(dir, f)) };
}

if (isMain(import.meta.url)) runMain('bench', async () => {
  const { values } = parseArgs({
    options: {
      'skip-scale': { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      connections: { type: 'string', default: '10000' },
      'rest-rate': { type: 'string', default: '50' },
      'rest-seconds': { type: 'string', default: '10' },
      'peer-users': { type: 'string', default: '200' },
      'peer-devices': { type: 'string', default: '4' },
      'peer-rate': { type: 'string', default: '50' },
    },
  });
  if (values.quick) Object.assign(values, { 'rest-rate': '10', 'rest-seconds': '3', 'peer-users': '20', 'peer-devices': '2', 'peer-rate': '50', connections: '1000' });
  const q = values.quick;
  const t0 = performance.now();
  const date = stamp();
  const rest: RestScenarioReport[] = [];
  console.log('== REST scenarios (autocannon) with observers');
  const svc = await startService({}, 'bench-rest');
  try {
    const runs: { kind: 'draft-create' | 'draft-update' | 'pending-batch'; batch?: number }[] = [
      { kind: 'draft-create' },
      { kind: 'draft-update' },
      { kind: 'pending-batch', batch: 1 },
      { kind: 'pending-batch', batch: 10 },
      { kind: 'pending-batch', batch: 100 },
    ];
    for (const x of runs) {
      // 100-order batches at the full rate would be 100× the row writes: cap them at 10 batches/s.
      const rate = x.batch === 100 ? Math.min(10, Number(values['rest-rate'])) : Number(values['rest-rate']);
      const r = await runRestScenario({ url: svc.url, ...x, rate, seconds: Number(values['rest-seconds']), observersPerUser: 2 });
      printRestReport(r, storageLabel());
      rest.push(r);
    }
  } finally {
    await stopService(svc);
  }
  console.log('\n== Peer comparison');
  const peer = await runPeerComparison({
    users: Number(values['peer-users']),
    devices: Number(values['peer-devices']),
    rate: Number(values['peer-rate']),
    seconds: q ? 3 : 10,
    steps: q ? [100, 400] : [25, 50, 75, 100, 150, 200, 300, 400, 600, 800, 1200, 1600],
    stepSeconds: q ? 2 : 4,
  });
  printRatios(peer);
  let scale: ScaleReport | null = null;
  if (!values['skip-scale']) {
    console.log('\n== Connection scale');
    scale = await runConnectionScale({ connections: Number(values.connections), devices: 4, heartbeatMs: 5000, idleSeconds: q ? 5 : 15, writeRate: 100, writeSeconds: q ? 3 : 10, workers: 2 });
  }
  const cpu = cpus();
  const report: BenchReport = {
    schema: 'archibald-realtime/bench@1',
    date,
    machine: { cpus: cpu.length, cpuModel: cpu[0]?.model ?? 'unknown', memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version },
    storage: storageLabel(),
    rest,
    peer,
    scale,
    seconds: (performance.now() - t0) / 1000,
  };
  const out = writeBenchReport(report);
  console.log(`\nwrote ${out.json}\nwrote ${out.md}\n${out.svgs.map((s) => `wrote ${s}`).join('\n')}`);
});
