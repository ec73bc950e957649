/**
 * `rtctl check <scenario…>`: scripted multi-device scenarios with exact expectations, built in
 * (--list, --all) or from JSON/YAML files. One line per scenario (NDJSON with --json), a JSON report
 * (--out) and JUnit XML (--junit). Exit 0 all passed, 4 a scenario failed, 5 nothing ran (all
 * skipped), 3 could not run, 2 usage, 130 interrupted.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { Command } from 'commander';
import type { ScenarioRuntime, RuntimeOptions } from '../check/runtime.js';
import type { Context } from '../context.js';
import { CliError, ExitCode, usageError } from '../errors.js';
import { paint } from '../format.js';
import { junitXml } from '../latency/junit.js';
import { probeApi, probeHealth } from '../latency/preflight.js';
import { tokenSource, type TokenSource } from '../latency/tokens.js';
import { mintToken, resolveSecret } from '../token.js';
import type { CommandKit } from './command.js';

/** The scenario machinery (the device client, YAML and schema parsing), loaded when a check runs. */
const loadCheck = () => Promise.all([import('../check/builtins.js'), import('../check/file.js'), import('../check/runtime.js')]);
type CheckModules = Awaited<ReturnType<typeof loadCheck>>;

export interface CheckOptions {
  all?: boolean;
  list?: boolean;
  junit?: string;
  out?: string;
  timeoutScale?: string;
  restartCmd?: string;
  secret?: string;
  dev?: boolean;
  tokenCmd?: string;
}

export const CheckExit = { PASS: 0, USAGE: 2, COULD_NOT_RUN: 3, FAILED: 4, ALL_SKIPPED: 5, INTERRUPTED: 130 } as const;
export const CHECK_REPORT_SCHEMA_VERSION = 1;

export const CHECK_HELP = `
Built-in scenarios (rtctl check --list): reconnect-replay, batch-aggregation, convert-flow,
isolation, token-expiry, resync, graceful-restart (needs --restart-cmd), job-lifecycle.
A file (JSON or YAML) describes devices, steps and expectations: see cli/LATENCY.md and
cli/examples/check-scenario.yaml.

Exit codes:
  0    every scenario passed (skipped ones do not fail the run)
  2    usage error (unknown scenario, bad file, no secret)
  3    could not run (service unreachable, token refused)
  4    a scenario failed (wrong events, order, count, or too late)
  5    nothing ran: every selected scenario was skipped (e.g. graceful-restart without --restart-cmd)
  130  interrupted

Examples:
  JWT_SECRET=… rtctl check --all --junit results/checks.xml
  rtctl check batch-aggregation --json
  rtctl check graceful-restart --restart-cmd 'kill -TERM $(cat /run/rt.pid)'
  rtctl check ./my-scenario.yaml`;

interface Selected {
  name: string;
  source: 'builtin' | string;
  description: string;
  run: (rt: ScenarioRuntime) => Promise<void>;
}

export interface CheckResult {
  scenario: string;
  source: string;
  status: 'pass' | 'fail' | 'skip';
  durationMs: number;
  message: string | null;
}

function select([{ BUILTINS }, { loadScenarioFile, runScenarioFile }]: CheckModules, args: string[], all: boolean): Selected[] {
  const out: Selected[] = [];
  if (all) for (const b of BUILTINS) out.push({ name: b.name, source: 'builtin', description: b.description, run: b.run });
  for (const arg of args) {
    const builtin = BUILTINS.find((b) => b.name === arg);
    if (builtin) {
      if (!out.some((s) => s.name === arg)) out.push({ name: builtin.name, source: 'builtin', description: builtin.description, run: builtin.run });
    } else if (existsSync(arg) || /\.(ya?ml|json)$/i.test(arg)) {
      const file = loadScenarioFile(arg);
      out.push({ name: file.name, source: arg, description: file.description ?? '', run: (rt) => runScenarioFile(rt, file) });
    } else {
      throw usageError(`Unknown scenario '${arg}': built-in ones are ${BUILTINS.map((b) => b.name).join(', ')}; or give a .yaml/.json file`);
    }
  }
  if (out.length === 0) throw usageError('Name a scenario (rtctl check --list), a scenario file, or --all');
  return out;
}

function cachedTokens(source: TokenSource): TokenSource {
  const cache = new Map<string, { token: string; at: number }>();
  return async (userId) => {
    const hit = cache.get(userId);
    if (hit && performance.now() - hit.at < 20 * 60_000) return hit.token;
    const token = await source(userId);
    cache.set(userId, { token, at: performance.now() });
    return token;
  };
}

async function preflight(url: string, tokens: TokenSource, runId: string): Promise<void> {
  await probeHealth(url);
  let token: string;
  try {
    token = await tokens(`chk-${runId}-probe`);
  } catch (err) {
    throw new CliError(`Could not get a token: ${(err as Error).message}`, ExitCode.UNREACHABLE);
  }
  await probeApi(url, token, "refused the token ($status): pass the service's JWT_SECRET (or --secret), or a --token-cmd printing a valid token for $RT_USER");
}

function writeFile(ctx: Context, what: string, path: string | undefined, text: () => string): void {
  if (!path) return;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text());
  } catch (err) {
    ctx.err(`rtctl: could not write the ${what} to ${path}: ${(err as Error).message}`);
  }
}

export async function runCheck(ctx: Context, args: string[], opts: CheckOptions): Promise<number> {
  const modules = await loadCheck();
  const [{ BUILTINS }, , { CheckFailure, CheckSkipped, ScenarioRuntime }] = modules;
  if (opts.list) {
    for (const b of BUILTINS) ctx.out(ctx.json ? JSON.stringify({ scenario: b.name, description: b.description }) : `${b.name.padEnd(20)} ${b.description}`);
    return CheckExit.PASS;
  }
  const scale = Number(opts.timeoutScale ?? '1');
  if (!(scale > 0 && scale <= 100)) throw usageError(`Invalid --timeout-scale '${opts.timeoutScale}': a factor such as 2`);
  const selected = select(modules, args, Boolean(opts.all));
  const tokens = cachedTokens(tokenSource({ secret: opts.secret, dev: opts.dev, tokenCmd: opts.tokenCmd, env: ctx.io.env, warn: (l) => ctx.err(l) }));
  let mintShort: RuntimeOptions['mintShort'] = null;
  if (opts.tokenCmd === undefined) {
    const secret = resolveSecret({ secret: opts.secret, env: ctx.io.env, dev: opts.dev, warn: () => undefined });
    mintShort = (userId, ttlSec) => mintToken({ userId, ttlSec, secret });
  }
  const runId = randomBytes(3).toString('hex');
  await preflight(ctx.urls[0]!, tokens, runId);

  let interrupted = false;
  ctx.onInterrupt(() => (interrupted = true));
  const results: CheckResult[] = [];
  const startedAt = new Date();
  for (const s of selected) {
    if (interrupted) break;
    const rt = new ScenarioRuntime({ urls: ctx.urls, tokens, mintShort, timeoutScale: scale, restartCmd: opts.restartCmd ?? null, runId }, s.name.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40));
    const t0 = performance.now();
    let status: CheckResult['status'] = 'pass';
    let message: string | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const limit = 180_000 * scale;
      await Promise.race([
        s.run(rt),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new CheckFailure(`did not finish within ${limit / 1000} s`)), limit))),
      ]);
    } catch (err) {
      if (err instanceof CheckSkipped) {
        status = 'skip';
        message = err.message;
      } else {
        status = 'fail';
        message = err instanceof CheckFailure ? err.message : `error: ${(err as Error).message}`;
      }
    } finally {
      clearTimeout(timer);
      await rt.dispose().catch(() => undefined);
    }
    const r: CheckResult = { scenario: s.name, source: s.source, status, durationMs: Math.round(performance.now() - t0), message };
    results.push(r);
    if (ctx.json) ctx.out(JSON.stringify(r));
    else {
      const tag = { pass: paint(ctx.color, 'green', 'ok  '), fail: paint(ctx.color, 'red', 'FAIL'), skip: paint(ctx.color, 'yellow', 'skip') }[status];
      ctx.out(`${tag} ${s.name.padEnd(20)} ${(r.durationMs / 1000).toFixed(1)}s${message ? `  ${message}` : ''}`);
    }
  }

  const failed = results.filter((r) => r.status === 'fail').length;
  const passed = results.filter((r) => r.status === 'pass').length;
  const skipped = results.filter((r) => r.status === 'skip').length;
  const exitCode = interrupted ? CheckExit.INTERRUPTED : failed > 0 ? CheckExit.FAILED : passed === 0 && skipped > 0 ? CheckExit.ALL_SKIPPED : CheckExit.PASS;
  const report = {
    schemaVersion: CHECK_REPORT_SCHEMA_VERSION,
    tool: 'rtctl check',
    runId,
    urls: ctx.urls,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    passed,
    failed,
    skipped,
    interrupted,
    exitCode,
    results,
  };
  writeFile(ctx, 'JSON report', opts.out, () => `${JSON.stringify(report, null, 2)}\n`);
  writeFile(ctx, 'JUnit report', opts.junit, () =>
    junitXml([
      {
        name: 'rtctl check',
        timestamp: report.startedAt,
        timeSec: (Date.parse(report.finishedAt) - startedAt.getTime()) / 1000,
        cases: results.map((r) => ({
          classname: `rtctl.check.${r.source === 'builtin' ? 'builtin' : 'file'}`,
          name: r.scenario,
          timeSec: r.durationMs / 1000,
          failure: r.status === 'fail' ? r.message : null,
          skipped: r.status === 'skip' ? r.message : null,
        })),
      },
    ]),
  );
  if (!ctx.json) ctx.out(`${passed} passed, ${failed} failed, ${skipped} skipped${interrupted ? ' (interrupted)' : ''}`);
  return exitCode;
}

export function checkCommand({ ctxOf, run }: CommandKit): Command {
  return new Command('check')
    .description('scripted multi-device scenarios with exact expectations: built-in ones (--list) or a JSON/YAML file')
    .argument('[scenario...]', 'built-in scenario names or scenario files')
    .option('--all', 'run every built-in scenario')
    .option('--list', 'list the built-in scenarios')
    .option('--junit <file>', 'write JUnit XML here (one test case per scenario)')
    .option('--out <file>', 'write the JSON report here')
    .option('--timeout-scale <factor>', 'multiply every time bound (slow shared machines)', '1')
    .option('--restart-cmd <command>', 'shell command that makes the instance drain and restart (graceful-restart)')
    .option('--secret <secret>', 'HS256 secret to mint tokens (default: JWT_SECRET)')
    .option('--dev', "use the service's built-in development secret when JWT_SECRET is unset")
    .option('--token-cmd <command>', 'shell command printing a token for the user id in $RT_USER (token-expiry needs a secret)')
    .addHelpText('after', CHECK_HELP)
    .action(run((cmd) => runCheck(ctxOf(cmd), cmd.args, cmd.opts<CheckOptions>())));
}
