/**
 * `npm run latency:ci`: the latency gate and every built-in check, as CI runs them.
 *
 * For each mode (embedded PGlite, and a throwaway PostgreSQL from /usr/lib/postgresql/<v>/bin), it
 * starts the service as a supervised child process, runs `rtctl latency` at a load a 2-core CI
 * machine carries (20 users x 3 devices x 50 writes/s for 20 s after a 5 s warm-up) and
 * `rtctl check --all` (graceful-restart drains the service with SIGTERM; the supervisor restarts
 * it), both as child processes. Reports land in results/ at the repo root:
 *   results/latency-<mode>.json|.xml|.hlog, results/checks-<mode>.json|.xml
 * It prints a summary and exits 1 when any gate or check failed.
 *
 * Knobs (env): LATENCY_CI_MODES=embedded,postgres  LATENCY_CI_USERS=20  LATENCY_CI_DEVICES=3
 * LATENCY_CI_RATE=50  LATENCY_CI_DURATION=20s  LATENCY_CI_WARMUP=5s  LATENCY_CI_P99=100
 * Without PostgreSQL binaries the postgres mode is skipped, unless CI=true (then it fails).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { removePostgres, startPostgres, type PgServer } from './postgres-server.js';
import { REPO_ROOT, RTCTL } from './paths.js';
import { startSupervisedService } from './supervised-service.js';

const env = process.env;
/** The summary goes to stdout (rtctl's own output is streamed through as it comes). */
const out = (line: string) => void process.stdout.write(`${line}\n`);
const RESULTS = join(REPO_ROOT, 'results');
const secret = `ci-${randomBytes(24).toString('hex')}`;
const ci = env.CI === 'true' || env.CI === '1';

interface Outcome {
  mode: string;
  step: 'latency' | 'check';
  code: number | null;
  note: string;
}

/** Run rtctl as a child, streaming its output (stdout: the summary; stderr: progress). */
function rtctl(args: string[]): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RTCTL, ...args], {
      cwd: REPO_ROOT,
      env: { PATH: env.PATH, HOME: env.HOME, JWT_SECRET: secret, CI: 'true' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('exit', (code) => resolve(code));
  });
}

async function runMode(mode: 'embedded' | 'postgres'): Promise<Outcome[]> {
  let pg: PgServer | null = null;
  if (mode === 'postgres') {
    try {
      pg = await startPostgres();
    } catch (err) {
      const why = `PostgreSQL could not be started: ${(err as Error).message}`;
      if (ci) return [{ mode, step: 'latency', code: 1, note: why }];
      out(`\n== ${mode}: skipped (${why})`);
      return [{ mode, step: 'latency', code: 0, note: `skipped: ${why}` }];
    }
  }
  const svc = await startSupervisedService({ secret, name: `ci-${mode}`, databaseUrl: pg?.url });
  const outcomes: Outcome[] = [];
  try {
    out(`\n== ${mode}: rtctl latency against ${svc.url}`);
    const gate = await rtctl([
      '--url', svc.url, 'latency',
      '--users', env.LATENCY_CI_USERS ?? '20',
      '--devices', env.LATENCY_CI_DEVICES ?? '3',
      '--rate', env.LATENCY_CI_RATE ?? '50',
      '--duration', env.LATENCY_CI_DURATION ?? '20s',
      '--warmup', env.LATENCY_CI_WARMUP ?? '5s',
      '--p99', env.LATENCY_CI_P99 ?? '100',
      '--out', join(RESULTS, `latency-${mode}.json`),
      '--junit', join(RESULTS, `latency-${mode}.xml`),
      '--hdr', join(RESULTS, `latency-${mode}.hlog`),
    ]);
    outcomes.push({ mode, step: 'latency', code: gate, note: `results/latency-${mode}.json` });
    out(`\n== ${mode}: rtctl check --all against ${svc.url}`);
    const checks = await rtctl([
      '--url', svc.url, 'check', '--all',
      '--restart-cmd', svc.restartCmd,
      '--timeout-scale', env.LATENCY_CI_TIMEOUT_SCALE ?? '2',
      '--out', join(RESULTS, `checks-${mode}.json`),
      '--junit', join(RESULTS, `checks-${mode}.xml`),
    ]);
    outcomes.push({ mode, step: 'check', code: checks, note: `results/checks-${mode}.json` });
  } finally {
    await svc.stop();
    if (pg) removePostgres(pg);
  }
  return outcomes;
}

const MEANING: Record<number, string> = { 0: 'pass', 2: 'usage error', 3: 'could not run', 4: 'correctness / scenario failure', 5: 'nothing ran', 99: 'latency threshold missed', 130: 'interrupted' };

async function main(): Promise<number> {
  mkdirSync(RESULTS, { recursive: true });
  const modes = (env.LATENCY_CI_MODES ?? 'embedded,postgres').split(',').map((m) => m.trim()) as ('embedded' | 'postgres')[];
  const outcomes: Outcome[] = [];
  for (const mode of modes) {
    if (mode !== 'embedded' && mode !== 'postgres') {
      console.error(`latency:ci: unknown mode '${mode}' in LATENCY_CI_MODES (embedded, postgres)`);
      return 2;
    }
    outcomes.push(...(await runMode(mode)));
  }
  out('\n== latency:ci summary');
  for (const o of outcomes) out(`  ${o.code === 0 ? 'ok  ' : 'FAIL'} ${o.mode.padEnd(9)} ${o.step.padEnd(8)} exit ${o.code} (${MEANING[o.code ?? -1] ?? 'crashed'})  ${o.note}`);
  const failed = outcomes.some((o) => o.code !== 0);
  out(failed ? '  latency:ci FAILED' : '  latency:ci passed');
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`latency:ci: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
