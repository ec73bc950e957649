/**
 * The dashboard against a real Prometheus scraping a real service: every panel query, with the
 * template variables filled in as Grafana would, returns data; the rules load and evaluate without
 * errors; the job-failure alert fires on the failures the traffic caused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type TestService } from '../service/test/support/harness.js';
import { binary, need } from './support/binaries.js';
import { substituteTemplate } from './support/promql.js';
import { loadDashboard, loadRules, panelQueries, variableQuery } from './support/queries.js';
import { JOB, startPrometheus, type PrometheusServer } from './support/prometheus-server.js';
import { steadyWrites, TRAFFIC_ENV, trafficRound } from './support/traffic.js';

const prometheusBin = binary('prometheus');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

describe.skipIf(prometheusBin.skipReason !== null)(
  `dashboard queries through a real Prometheus${prometheusBin.skipReason ? ` (skipped: ${prometheusBin.skipReason})` : ''}`,
  () => {
    let svc: TestService | undefined;
    let prom: PrometheusServer | undefined;
    let target = '';

    beforeAll(async () => {
      svc = await startService({ storage: 'pglite', env: TRAFFIC_ENV, logLevel: 'warn' });
      target = new URL(svc.url).host;
      prom = await startPrometheus({ bin: need(prometheusBin), targets: [target], interval: '1s' });
      await until('the first successful scrape', async () => (await prom!.query(`up{job="${JOB}"} == 1`)).length === 1, 15_000);
      // Traffic after the first scrape, so that counters move inside the query windows.
      await trafficRound(svc);
      await steadyWrites(svc, 5_000);
      await sleep(2_500); // two more scrapes and rule evaluations
    }, 90_000);

    afterAll(async () => {
      await prom?.stop();
      await svc?.close();
    }, 30_000);

    it('every panel query returns data, with at least one number', async () => {
      const values = { rateInterval: '30s', vars: { job: JOB, instance: target } };
      const problems: string[] = [];
      const queries = panelQueries(loadDashboard());
      for (const q of queries) {
        const expr = substituteTemplate(q.expr, values);
        try {
          const result = await prom!.query(expr);
          if (result.length === 0) problems.push(`${q.where}: no data for ${expr}`);
          else if (!result.some((s) => Number.isFinite(Number(s.value[1])))) problems.push(`${q.where}: only NaN/Inf for ${expr}`);
        } catch (err) {
          problems.push(`${q.where}: ${(err as Error).message}`);
        }
      }
      expect(problems, prom!.output()).toEqual([]);
      expect(queries.length).toBeGreaterThan(30);
      // and the check can fail: a query on a metric nobody exposes has no data
      expect(await prom!.query(`rate(rt_no_such_metric_total{job="${JOB}"}[30s])`)).toEqual([]);
    });

    it('the job and instance variables list the scraped service', async () => {
      const vars = new Map(loadDashboard().templating.list.map((v) => [v.name, variableQuery(v)]));
      // label_values(<selector>, <label>) is Grafana's wrapper for /api/v1/label/<label>/values?match[]=<selector>
      for (const [name, expected] of [
        ['job', JOB],
        ['instance', target],
      ] as const) {
        const m = /^label_values\((.*), (\w+)\)$/.exec(vars.get(name)!)!;
        const selector = substituteTemplate(m[1]!, { rateInterval: '30s', vars: { job: JOB } });
        const labels = await prom!.get<string[]>(`/api/v1/label/${m[2]}/values?match[]=${encodeURIComponent(selector)}`);
        expect(labels).toContain(expected);
      }
    });

    it('the rule files load, evaluate without errors, and recording rules produce series', async () => {
      const data = await prom!.get<{ groups: { name: string; rules: { name: string; health: string; lastError?: string; type: string }[] }[] }>(
        '/api/v1/rules',
      );
      const loaded = data.groups.flatMap((g) => g.rules);
      expect(loaded.map((r) => r.name).sort()).toEqual(loadRules().map((r) => r.alert ?? r.record).sort());
      for (const r of loaded) expect({ rule: r.name, health: r.health, lastError: r.lastError ?? '' }).toEqual({ rule: r.name, health: 'ok', lastError: '' });
      for (const r of loaded.filter((x) => x.type === 'recording')) {
        expect((await prom!.query(r.name)).length, `recorded series ${r.name}`).toBeGreaterThan(0);
      }
    });

    it('the job-failure alert fires on the failed job, and no-instance-up does not', async () => {
      const alerts = await prom!.get<{ alerts: { labels: Record<string, string>; state: string }[] }>('/api/v1/alerts');
      const active = alerts.alerts.map((a) => `${a.labels.alertname}:${a.state}`);
      expect(active).toContain('RealtimeJobsFailing:firing');
      expect(active.filter((a) => a.startsWith('RealtimeNoInstanceUp'))).toEqual([]);
    });
  },
);
