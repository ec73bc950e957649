/**
 * The write-path sections of the bench's Markdown report: the issue's targets (met / not met)
 * first, then pgbench, the ceilings, e2e delivery, CPU per write and the fair peer, each with its
 * plot (lib/svg.ts). `svg(name, content)` stores a plot beside the report and returns its file name.
 */
import type { CeilingReport } from '../write-ceiling.js';
import { RSS_AFTER_READY_MS } from '../embedded-start.js';
import type { FairPeerReport } from '../fair-peer.js';
import type { LatencyRun } from './latency-run.js';
import { cdfOfEncoded } from './stats.js';
import { barChart, lineChart, percentileChart } from './svg.js';
import { verdict, type TargetCheck, type WritePathReport } from './write-path-targets.js';

type Svg = (name: string, content: string) => string;

const f = (v: number | null | undefined, d = 2) => (v === null || v === undefined ? '-' : v.toFixed(d));

const counters = (x: LatencyRun) => {
  const bad = Object.entries(x.correctness).filter(([, v]) => v > 0);
  return bad.length ? bad.map(([k, v]) => `${k} ${v}`).join(', ') : '0';
};

function runRow(label: string, x: LatencyRun): string {
  const c = x.cpuMsPerWrite;
  return `| ${label} | ${x.rate} (${x.achievedRate ?? '-'}) | ${x.users}×${x.devices} | ${f(x.delivery.p50)} | ${f(x.delivery.p99)} | ${f(x.delivery.p999)} | ${f(x.delivery.max, 1)} | ${f(x.rest.p50)} | ${f(x.serviceStallMs, 1)} | ${f(c.service, 3)} / ${f(c.postgres, 3)} / ${f(c.harness, 3)} | ${f(x.harness.eventLoopP99Ms, 1)} | ${counters(x)} | ${x.passed ? 'yes' : 'no'} |`;
}

const RUN_HEADER = [
  '| storage | writes/s (achieved) | users × devices | p50 | p99 | p99.9 | max | REST p50 | service stall | CPU ms/write service / PostgreSQL / rtctl | rtctl loop delay p99 | counters ≠ 0 | p99 < 100 and counters 0 |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
];

function ceilingSection(r: WritePathReport, svg: Svg): string[] {
  const ladders: CeilingReport[] = [...(r.ceiling ? [r.ceiling] : []), ...r.embedded];
  if (!ladders.length) return [];
  const lines = ['## Write ceilings: the highest rate with delivery p99 < 100 ms', ''];
  const o = ladders[0]!.options;
  lines.push(`\`rtctl latency --users ${o.users} --devices ${o.devices} --duration ${o.durationS}s --warmup ${o.warmupS}s\`${o.mix ? ` \`--mix ${o.mix}\`` : ' (its default write mix)'} per step, the built service (\`node dist/service/src/main.js\`) fresh for each step, with a fresh database; a step passes with p99 < 100 ms and every correctness counter 0 (missing, duplicates, out-of-order, cross-user, unexpected, resyncs, failed writes); the ladder stops at the first failing step.`, '');
  const maxRate = Math.max(...ladders.flatMap((l) => l.steps.map((s) => s.rate)));
  const plot = svg('ceiling-steps', lineChart({
    title: 'Delivery p99 against offered writes/s (fresh service per step)',
    x: { label: 'offered writes/s', log: true },
    y: { label: 'p99 (ms)', log: true },
    series: [
      ...ladders.map((l) => ({ name: l.storage, points: l.steps.filter((s) => s.delivery.p99 !== null).map((s) => [s.rate, Math.max(0.1, s.delivery.p99!)] as const) })),
      { name: 'limit: p99 100 ms', points: [[Math.min(...ladders.map((l) => l.options.rates[0]!)), 100], [maxRate, 100]] as const },
    ],
  }));
  const bars = svg('ceiling', barChart({
    title: 'Durable writes/s: PostgreSQL alone (pgbench) and the service (p99 < 100 ms)',
    yLabel: 'writes/s',
    categories: ['writes/s'],
    series: [
      ...(r.pgbench ? [{ name: `pgbench rt_draft_create (-c ${r.pgbench.clients})`, values: [r.pgbench.tps] }] : []),
      ...ladders.map((l) => ({ name: `service, ${l.storage}`, values: [l.ceiling] })),
      { name: 'target on PostgreSQL: 1,200', values: [1200] },
    ],
    width: 640,
  }));
  lines.push(`![p99 against rate](${plot})`, '', `![ceilings](${bars})`, '');
  lines.push('| storage | ceiling writes/s | vs pgbench tps | service stall at the ceiling ms |', '|---|---|---|---|');
  for (const l of ladders) {
    const vs = l.mode === 'postgres' && r.pgbench ? f(l.ceiling / r.pgbench.tps) : '-';
    lines.push(`| ${l.storage} | ${l.ceiling === 0 ? `< ${l.options.rates[0]}` : l.passedAll ? `≥ ${l.ceiling} (every step passed)` : l.ceiling} | ${vs} | ${f(l.stallAtCeilingMs, 1)} |`);
  }
  lines.push('', ...RUN_HEADER);
  for (const l of ladders) for (const s of l.steps) lines.push(runRow(l.storage, s));
  lines.push('', 'Times in ms. "service stall": the longest event-loop delay of the service over the measured phase (`nodejs_eventloop_lag_max_seconds`, prom-client\'s `monitorEventLoopDelay`, 10 ms resolution). CPU from /proc over the measured phase: the service process (worker threads included), every postgres process, the rtctl process.', '');
  return lines;
}

function embeddedStartSection(r: WritePathReport): string[] {
  const st = r.embeddedStart;
  if (!st) return [];
  const lines = ['## Embedded start: memory and time to ready', ''];
  lines.push(`The built service with its defaults (\`node dist/service/src/main.js\`: PGlite in a worker thread, no \`DATA_DIR\`, a fresh folder copied from the migrated template), started ${st.starts.length} time(s) one after another (loadtest/embedded-start.ts). RSS is VmRSS ${RSS_AFTER_READY_MS / 1000} s after /readyz answered.`, '');
  lines.push('| start | ready in ms (from the spawn) | RSS MB |', '|---|---|---|');
  st.starts.forEach((x, i) => lines.push(`| ${i + 1} | ${x.readyMs} | ${f(x.rssMb, 1)} |`));
  lines.push('');
  return lines;
}

function e2eSection(r: WritePathReport, svg: Svg): string[] {
  const e = r.e2e;
  if (!e) return [];
  const lines = [`## End-to-end delivery at ${e.options.rate} writes/s (${e.storage})`, ''];
  lines.push('Delivery = the write\'s due time on rtctl\'s open-loop schedule → its last event on the slowest observer (cli/LATENCY.md), HDR histogram.', '');
  const plot = svg('e2e', percentileChart(`Delivery latency by percentile at ${e.options.rate} writes/s`, e.runs.map((x) => ({ name: `${x.users} users × ${x.devices} devices`, cdf: cdfOfEncoded(x.deliveryHistogram) }))));
  lines.push(`![e2e delivery by percentile](${plot})`, '', ...RUN_HEADER);
  for (const x of e.runs) lines.push(runRow(e.storage, x));
  if (e.createOnly) lines.push(runRow(`${e.storage}, draft creates only (--mix create=1)`, e.createOnly));
  const cpuRun = e.runs.find((x) => x.users === 100) ?? e.runs[0];
  if (cpuRun) {
    const c = cpuRun.cpuMsPerWrite;
    const pgTx = r.pgbench?.postgresCpuMsPerTx ?? null;
    const bars = svg('cpu', barChart({
      title: `CPU ms per write at ${cpuRun.rate} writes/s (${cpuRun.users} × ${cpuRun.devices})`,
      yLabel: 'CPU ms per write',
      categories: ['service', 'PostgreSQL', 'rtctl (harness)'],
      series: [
        { name: 'measured', values: [c.service, c.postgres, c.harness] },
        { name: 'target / pgbench', values: [0.35, pgTx, null] },
      ],
      width: 560,
    }));
    lines.push('', `### CPU per write at ${cpuRun.rate} writes/s`, '', `![CPU per write](${bars})`, '');
    lines.push('| process | CPU ms per write | compared with |', '|---|---|---|');
    lines.push(`| service | ${f(c.service, 3)} | target ≤ 0.35 |`);
    const atRate = r.pgbench?.atRate;
    lines.push(`| PostgreSQL (every postgres process) | ${f(c.postgres, 3)} | pgbench: ${f(pgTx, 3)} per rt_draft_create transaction saturated${atRate ? `, ${f(atRate.postgresCpuMsPerTx, 3)} at -R ${atRate.rate} (commits one at a time, as the service's at that rate)` : ''} |`);
    if (e.createOnly) lines.push(`| PostgreSQL, draft creates only (--mix create=1, pgbench's write) | ${f(e.createOnly.cpuMsPerWrite.postgres, 3)} | pgbench at the same rate: ${f(atRate?.postgresCpuMsPerTx, 3)} |`);
    lines.push(`| rtctl (writers, ${cpuRun.users * cpuRun.devices} devices, tracking) | ${f(c.harness, 3)} | |`);
    lines.push('', `The writes follow rtctl's mix${e.options.mix ? ` \`${e.options.mix}\`` : ' (creates, updates, deletes, converts, pending batches of 1–100 orders)'}; pgbench runs draft creates only, so a batch-heavy mix costs PostgreSQL more per write than pgbench's transaction (the run with \`--mix create=1\` compares like with like, and the PostgreSQL CPU target is judged on it against pgbench at the same rate).`, '');
  }
  return lines;
}

function fairPeerSection(p: FairPeerReport | null, svg: Svg): string[] {
  if (!p) return [];
  const o = p.options;
  const lines = ['## Fair peer: Socket.IO doing the same durable write', ''];
  lines.push(`${o.users} users × ${o.devices} observers, one HTTP writer per user, draft creates open loop at ${o.rate}/s for ${o.seconds} s, then steps ${o.steps.join(', ')}/s of ${o.stepSeconds} s (lib/multi-device.ts: the same load, observers and histogram for every target, each run alone). Socket.IO + PostgreSQL commits the service's own \`rt_draft_create\` transaction on its own PostgreSQL (fsync on) before emitting the appended events to the user's room, connection state recovery on; the other Socket.IO stores nothing.`, '');
  const l = svg('fair-peer', percentileChart(`Due → arrival at ${o.rate} writes/s`, p.reports.map((r) => ({ name: r.target, cdf: r.main.cdf }))));
  const steps = svg('fair-peer-steps', lineChart({
    title: 'p99 as the rate steps up (stops at the first failing step)',
    x: { label: 'offered writes/s', log: true },
    y: { label: 'p99 (ms)', log: true },
    series: p.reports.map((r) => ({ name: r.target, points: r.steps.map((s) => [s.rate, Math.max(0.1, s.latency.p99)] as const) })),
  }));
  lines.push(`![fair peer latency by percentile](${l})`, '', `![fair peer p99 against rate](${steps})`, '');
  lines.push('| metric | archibald-realtime | Socket.IO + PostgreSQL | Socket.IO, no database | ours / Socket.IO+PG | ours / Socket.IO |', '|---|---|---|---|---|---|');
  for (const x of p.ratios) lines.push(`| ${x.metric} | ${x.ours ?? 'n/a'} | ${x.socketioPg ?? 'n/a'} | ${x.socketio ?? 'n/a'} | ${x.vsSocketioPg ?? 'n/a'} | ${x.vsSocketio ?? 'n/a'} |`);
  lines.push('', '| target | writes/s | p50 | p99 | p99.9 | max | errors | missing | writer lateness |', '|---|---|---|---|---|---|---|---|---|');
  for (const t of p.reports) for (const s of [t.main, ...t.steps]) lines.push(`| ${t.target} | ${s.rate} | ${f(s.latency.p50)} | ${f(s.latency.p99)} | ${f(s.latency.p99_9)} | ${f(s.latency.max)} | ${s.errors} | ${s.missing} | ${s.maxSendLatenessMs} |`);
  lines.push('');
  return lines;
}

export function writePathSections(r: WritePathReport, targets: TargetCheck[], svg: Svg): string[] {
  const ran = r.pgbench || r.ceiling || r.e2e || r.embedded.length || r.embeddedStart || r.fairPeer;
  if (!ran) return [];
  const lines = ['## Write path: the issue\'s targets', '', '| target | figure | verdict |', '|---|---|---|'];
  for (const t of targets) lines.push(`| ${t.target} | ${t.figure} | ${t.met === false ? '**NOT met**' : verdict(t)} |`);
  lines.push('');
  if (r.pgbench) {
    const p = r.pgbench;
    lines.push('## pgbench: the service\'s write on PostgreSQL alone', '');
    lines.push(`\`pgbench -n -c ${p.clients} -j 2 -M prepared -T ${p.seconds}\` running the service's draft-create SQL (\`SELECT rt_draft_create(…)\`, one user among 1,000, a new draft each time; write-path.ts's script) on a throwaway PostgreSQL with ${p.settings}.`, '');
    lines.push('| tps | latency avg ms | transactions | failed | PostgreSQL CPU ms per transaction |', '|---|---|---|---|---|');
    lines.push(`| ${p.tps.toFixed(0)} | ${p.latencyMs} | ${p.transactions} | ${p.failed} | ${f(p.postgresCpuMsPerTx, 3)} |`, '');
    const a = p.atRate;
    if (a) {
      lines.push(`The same at the e2e run's rate (\`-R ${a.rate}\`, each transaction logged with \`-l\` and timed from its scheduled start, open loop as rtctl): what a commit costs and takes when commits come one at a time.`, '');
      lines.push('| rate | tps | latency p50 ms | p99 | p99.9 | max | PostgreSQL CPU ms per transaction |', '|---|---|---|---|---|---|---|');
      const l = a.latency;
      lines.push(`| ${a.rate}/s | ${a.tps.toFixed(0)} | ${f(l?.p50, 2)} | ${f(l?.p99, 2)} | ${f(l?.p999, 2)} | ${f(l?.max, 1)} | ${f(a.postgresCpuMsPerTx, 3)} |`, '');
    }
  }
  return [...lines, ...ceilingSection(r, svg), ...embeddedStartSection(r), ...e2eSection(r, svg), ...fairPeerSection(r.fairPeer, svg)];
}
