/**
 * A real Prometheus for tests: the committed dashboards/prometheus/prometheus.yml with its targets
 * swapped for the test service and its intervals shortened, on a free port on 127.0.0.1, with
 * its own temporary TSDB. Nothing is left behind: stop() kills it and removes the directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { freePort } from '../../tools/free-port.js';
import { PROMETHEUS_CONFIG, ruleFiles } from './queries.js';

export const JOB = 'archibald-realtime';


export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusServer {
  url: string;
  output(): string;
  query(expr: string): Promise<Sample[]>;
  get<T = unknown>(path: string): Promise<T>;
  stop(): Promise<void>;
}

interface ScrapeConfig {
  job_name: string;
  scrape_interval?: string;
  static_configs: { targets: string[] }[];
}

/** The committed config, pointed at `targets` and scraping and evaluating every `interval`. */
export function testConfig(targets: string[], interval: string): string {
  const config = parse(readFileSync(PROMETHEUS_CONFIG, 'utf8')) as {
    global: Record<string, string>;
    rule_files: string[];
    scrape_configs: ScrapeConfig[];
  };
  const job = config.scrape_configs.find((s) => s.job_name === JOB);
  if (!job) throw new Error(`${PROMETHEUS_CONFIG} has no scrape job ${JOB}`);
  config.global = { ...config.global, scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval };
  job.scrape_interval = interval;
  job.static_configs = [{ targets }];
  config.rule_files = ruleFiles();
  return stringify(config);
}

export async function startPrometheus(opts: { bin: string; targets: string[]; interval?: string; readyTimeoutMs?: number }): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), 'rt-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, testConfig(opts.targets, opts.interval ?? '1s'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let log = '';
  const child: ChildProcess = spawn(
    opts.bin,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (c: Buffer) => (log += String(c)));
  child.stderr!.on('data', (c: Buffer) => (log += String(c)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));

  const stop = async () => {
    if (!gone) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(url + path);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`${path}: ${body.error ?? res.status}`);
    return body.data;
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 15_000);
  for (;;) {
    if (gone) {
      await stop();
      throw new Error(`prometheus exited during start-up:\n${log}`);
    }
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready after ${opts.readyTimeoutMs ?? 15_000} ms:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    output: () => log,
    get,
    async query(expr) {
      const data = await get<{ resultType: string; result: Sample[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
      if (data.resultType !== 'vector') throw new Error(`expected a vector for ${expr}, got ${data.resultType}`);
      return data.result;
    },
    stop,
  };
}
