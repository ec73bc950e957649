/**
 * `npm run bench`: every scenario, one JSON file and one Markdown summary with SVG plots
 * (loadtest/results/<date>.{json,md}, <date>-*.svg): the REST scenarios, the peer comparison and
 * connection scale, then the write path (lib/write-path-parts.ts: pgbench, the service's ceiling on
 * PostgreSQL with fsync on, e2e delivery and CPU per write, the embedded ceilings, the fair peer)
 * with the issue's targets met / not met. About 25 minutes at most; Ctrl-C stops every process.
 *
 *   npm run bench [-- --only pgbench,ceiling,e2e,embedded,fair-peer,rest,peer,scale] [--skip-scale]
 *                 [--mix create=1] [--connections 10000] [--rest-rate 50] [--rest-seconds 10]
 *                 [--peer-users 200] [--peer-devices 4] [--peer-rate 50]
 *   npm run bench -- --quick     a smoke run of everything in a few minutes (figures not meaningful)
 * `--only write-path` is the five write-path parts; `cpu` is an alias of `e2e` (the CPU figures come
 * from its 300 writes/s run).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runConnectionScale, type ScaleReport } from './connection-scale.js';
import { ensureBuilt } from './lib/build.js';
import { isMain, RESULTS_DIR, runMain, stamp } from './lib/cli.js';
import { handleInterrupts, type Interrupt } from './lib/interrupt.js';
import { printRestReport, runRestScenario, type RestScenarioReport } from './lib/rest-scenario.js';
import { startService, stopService, storageLabel } from './lib/service.js';
import { barChart, lineChart, percentileChart } from './lib/svg.js';
import { runWritePath, WRITE_PATH_PARTS } from './lib/write-path-parts.js';
import { writePathSections } from './lib/write-path-report.js';
import { checkTargets, verdict, type TargetCheck, type WritePathReport } from './lib/write-path-targets.js';
import { printRatios, runPeerComparison, type PeerComparison } from './peer-comparison.js';

/** bench@2: the parts are optional (`--only`): `rest` empty, `peer`/`scale` null when not run; `writePath` and `targets` added. */
export interface BenchReport {
  schema: 'archibald-realtime/bench@2';
  date: string;
  machine: { cpus: number; cpuModel: string; memoryGb: number; node: string };
  /** The checkout whose service was measured when not this one (BENCH_SERVICE_ROOT, lib/stack.ts), with its commit. */
  serviceRoot?: string;
  /** Storage of the REST scenarios and the peer comparison (the write-path parts name their own). */
  storage: string;
  parts: string[];
  quick: boolean;
  rest: RestScenarioReport[];
  peer: PeerComparison | null;
  scale: ScaleReport | null;
  writePath: WritePathReport;
  targets: TargetCheck[];
  seconds: number;
}

/** A checkout as `<dir> at <short commit>`, for the report. */
function describeRoot(dir: string): string {
  const r = spawnSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  return r.status === 0 ? `${dir} at ${r.stdout.trim()}` : dir;
}

export const BENCH_PARTS = ['rest', 'peer', 'scale', ...WRITE_PATH_PARTS] as const;

/** `--only` as a set of parts (aliases: write-path = its five parts, cpu = e2e); throws on an unknown name. */
export function parseParts(only: string | undefined, skipScale = false): Set<string> {
  const names = only ? only.split(',').map((x) => x.trim()).filter(Boolean) : [...BENCH_PARTS];
  const parts = new Set<string>();
  for (const n of names) {
    if (n === 'write-path') for (const p of WRITE_PATH_PARTS) parts.add(p);
    else if (n === 'cpu') parts.add('e2e');
    else if ((BENCH_PARTS as readonly string[]).includes(n)) parts.add(n);
    else throw new Error(`--only: unknown part '${n}' (parts: ${BENCH_PARTS.join(', ')}, write-path, cpu)`);
  }
  if (skipScale) parts.delete('scale');
  return parts;
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
  const classicStorage = r.rest.length || r.peer ? `; storage of the REST scenarios and the peer comparison: ${r.storage}` : '';
  lines.push(`${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGb} GB, Node ${r.machine.node}${classicStorage}. Load generator and servers share the machine. Took ${Math.round(r.seconds)} s.`, '');
  lines.push('Latency is always measured from the moment a write was **due** on the writer’s schedule (open loop) to its arrival on an observer device, on one monotonic clock (DESIGN §8).', '');
  if (r.serviceRoot) lines.push(`**Service measured: ${r.serviceRoot}** (BENCH_SERVICE_ROOT), with this tree's harness.`, '');
  lines.push(`Parts: ${r.parts.join(', ')}${r.quick ? ' (**--quick**: a smoke run, the figures are not meaningful)' : ''}.`, '');
  lines.push(...writePathSections(r.writePath, r.targets, svg));

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

  const [ours, theirs] = r.peer?.reports ?? [];
  if (r.peer && ours && theirs) {
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

/** The REST scenarios, the peer comparison and connection scale, as before the write-path parts. */
async function runClassicParts(parts: Set<string>, values: Record<string, string | boolean | undefined>, interrupt: Interrupt) {
  const q = values.quick === true;
  const rest: RestScenarioReport[] = [];
  if (parts.has('rest')) {
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
        interrupt.check();
        // 100-order batches at the full rate would be 100× the row writes: cap them at 10 batches/s.
        const rate = x.batch === 100 ? Math.min(10, Number(values['rest-rate'])) : Number(values['rest-rate']);
        const r = await runRestScenario({ url: svc.url, ...x, rate, seconds: Number(values['rest-seconds']), observersPerUser: 2 });
        printRestReport(r, storageLabel());
        rest.push(r);
      }
    } finally {
      await stopService(svc);
    }
  }
  let peer: PeerComparison | null = null;
  if (parts.has('peer')) {
    interrupt.check();
    console.log('\n== Peer comparison');
    peer = await runPeerComparison({
      users: Number(values['peer-users']),
      devices: Number(values['peer-devices']),
      rate: Number(values['peer-rate']),
      seconds: q ? 3 : 10,
      steps: q ? [100, 400] : [25, 50, 75, 100, 150, 200, 300, 400, 600, 800, 1200, 1600],
      stepSeconds: q ? 2 : 4,
    });
    printRatios(peer);
  }
  let scale: ScaleReport | null = null;
  if (parts.has('scale')) {
    interrupt.check();
    console.log('\n== Connection scale');
    scale = await runConnectionScale({ connections: Number(values.connections), devices: 4, heartbeatMs: 5000, idleSeconds: q ? 5 : 15, writeRate: 100, writeSeconds: q ? 3 : 10, workers: 2 });
  }
  return { rest, peer, scale };
}

const interrupt = isMain(import.meta.url) ? handleInterrupts() : null;
if (interrupt) runMain('bench', async () => {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      'skip-scale': { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      mix: { type: 'string' },
      connections: { type: 'string', default: '10000' },
      'rest-rate': { type: 'string', default: '50' },
      'rest-seconds': { type: 'string', default: '10' },
      'peer-users': { type: 'string', default: '200' },
      'peer-devices': { type: 'string', default: '4' },
      'peer-rate': { type: 'string', default: '50' },
    },
  });
  if (values.quick) Object.assign(values, { 'rest-rate': '10', 'rest-seconds': '3', 'peer-users': '20', 'peer-devices': '2', 'peer-rate': '50', connections: '1000' });
  const parts = parseParts(values.only, values['skip-scale']);
  const t0 = performance.now();
  const date = stamp();
  // The write-path parts measure the service as production runs it: compiled.
  if (WRITE_PATH_PARTS.some((p) => p !== 'pgbench' && parts.has(p))) ensureBuilt();
  const classic = await runClassicParts(parts, values, interrupt);
  const writePath = await runWritePath(parts, { quick: values.quick, mix: values.mix }, interrupt);
  const targets = checkTargets(writePath);
  if (WRITE_PATH_PARTS.some((p) => parts.has(p))) {
    console.log('\n== Write-path targets');
    for (const t of targets) console.log(`  ${verdict(t).padEnd(12)} ${t.target}: ${t.figure}`);
  }
  const cpu = cpus();
  const report: BenchReport = {
    schema: 'archibald-realtime/bench@2',
    date,
    machine: { cpus: cpu.length, cpuModel: cpu[0]?.model ?? 'unknown', memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version },
    ...(process.env.BENCH_SERVICE_ROOT ? { serviceRoot: describeRoot(process.env.BENCH_SERVICE_ROOT) } : {}),
    storage: storageLabel(),
    parts: [...parts],
    quick: values.quick,
    ...classic,
    writePath,
    targets,
    seconds: (performance.now() - t0) / 1000,
  };
  const out = writeBenchReport(report);
  interrupt.dispose();
  console.log(`\nwrote ${out.json}\nwrote ${out.md}\n${out.svgs.map((s) => `wrote ${s}`).join('\n')}`);
}, interrupt);
