/**
 * The baseline figures in cli/LATENCY.md: `rtctl latency` at 100 users x 3 devices x 200 writes/s,
 * embedded (PGlite in memory, as `npm start`) and on a throwaway PostgreSQL, then the rate stepped
 * up until delivery p99 reaches 100 ms. Each run is rtctl as a child process against the service as
 * a child process.
 *
 *   npx tsx loadtest/latency-baseline.ts [--modes embedded,postgres] [--rate 200] [--duration 30s] [--steps 100,150,200] [--step-duration 15s]
 * (--rate 0 skips the fixed-rate run; the steps stop at the first rate whose p99 reaches 100 ms,
 * unless --keep-going)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { removePostgres, startPostgres, type PgServer } from '../tools/postgres-server.js';
import { REPO_ROOT, RTCTL } from '../tools/paths.js';
import { startSupervisedService } from '../tools/supervised-service.js';

const { values } = parseArgs({
  options: {
    modes: { type: 'string', default: 'embedded,postgres' },
    users: { type: 'string', default: '100' },
    rate: { type: 'string', default: '200' },
    duration: { type: 'string', default: '30s' },
    steps: { type: 'string', default: '100,200,300,400,600,800' },
    'step-duration': { type: 'string', default: '15s' },
    'keep-going': { type: 'boolean', default: false },
  },
});
const secret = `baseline-${randomBytes(24).toString('hex')}`;

interface Figures {
  rate: number;
  achieved: number | null;
  count: number;
  p50: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
  loss: number;
  errors: number;
  restP50: number | null;
  eldP99: number;
  lateP99: number | null;
  load: number[];
  firstFailure: string | null;
}

function latency(url: string, rate: number, duration: string): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const args = ['--url', url, '--json', 'latency', '--users', values.users!, '--devices', '3', '--rate', String(rate), '--duration', duration, '--warmup', '5s', '--p99', '100', '--no-cleanup'];
    const child = spawn(process.execPath, [RTCTL, ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, JWT_SECRET: secret }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += String(c)));
    child.on('exit', (code) => {
      try {
        const r = JSON.parse(out.trim().split('\n').pop()!);
        const c = r.correctness;
        resolve({
          rate,
          achieved: r.writes.achievedRate,
          count: r.latency.delivery.count,
          p50: r.latency.delivery.p50Ms,
          p99: r.latency.delivery.p99Ms,
          p999: r.latency.delivery.p999Ms,
          max: r.latency.delivery.maxMs,
          loss: c.loss,
          errors: c.duplicates + c.outOfOrder + c.crossUser + c.unexpected + r.writes.failed,
          restP50: r.latency.rest.p50Ms,
          eldP99: r.harness.eventLoopDelayMs.p99,
          lateP99: r.harness.scheduleLatenessMs.p99Ms,
          load: r.harness.loadAverage,
          firstFailure: r.writes.failures[0] ?? null,
        });
      } catch {
        reject(new Error(`rtctl latency exited ${code} without a report: ${out.slice(0, 500)}`));
      }
    });
  });
}

const f = (v: number | null) => (v === null ? '-' : v.toFixed(1));
const line = (mode: string, x: Figures) =>
  `| ${mode} | ${x.rate} (${x.achieved ?? '-'}) | ${x.count} | ${f(x.p50)} | ${f(x.p99)} | ${f(x.p999)} | ${f(x.max)} | ${(x.loss * 100).toFixed(3)}% | ${x.errors} | ${f(x.restP50)} | ${f(x.eldP99)} / ${f(x.lateP99)} | ${x.load.join(' ')} |`;

async function main(): Promise<void> {
  console.log(`baseline ${new Date().toISOString()}  node ${process.version}  load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log('| mode | rate/s (achieved) | writes | p50 ms | p99 ms | p99.9 ms | max ms | loss | errors | REST p50 ms | harness eld p99 / late p99 ms | load avg |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  // A fresh service (and database) per run: an in-memory PGlite that kept the previous runs' rows
  // and buffers would make each step slower than the last for reasons unrelated to the rate.
  const once = async (mode: string, rate: number, duration: string): Promise<Figures> => {
    let pg: PgServer | null = null;
    if (mode === 'postgres') pg = await startPostgres();
    const svc = await startSupervisedService({ secret, name: `baseline-${mode}`, databaseUrl: pg?.url, inMemory: mode === 'embedded' });
    try {
      return await latency(svc.url, rate, duration);
    } finally {
      await svc.stop();
      if (pg) removePostgres(pg);
    }
  };
  for (const mode of values.modes!.split(',')) {
    if (values.rate !== '0') {
      const x = await once(mode, Number(values.rate), values.duration!);
      console.log(line(mode, x));
      if (x.firstFailure) console.log(`  first failed write: ${x.firstFailure}`);
    }
    for (const rate of values.steps!.split(',').filter(Boolean).map(Number)) {
      const x = await once(mode, rate, values['step-duration']!);
      console.log(line(`${mode} step`, x));
      if (x.firstFailure) console.log(`  first failed write: ${x.firstFailure}`);
      if (!values['keep-going'] && (x.p99 === null || x.p99 >= 100 || x.loss > 0)) break;
    }
  }
}

main().catch((err: unknown) => {
  console.error(`baseline: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
