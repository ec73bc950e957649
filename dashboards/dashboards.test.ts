/**
 * The dashboard, the provisioning files and the rules, checked for shape, and tied to the metrics a
 * live service really exposes: a panel or alert on a metric the service does not emit shows
 * "No data" forever, which nobody notices until the day it matters.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startService, type TestService } from '../service/test/support/harness.js';
import { exposure, metricNames, parseExposition, PROMETHEUS_GENERATED, substituteTemplate, variableQueryMetrics } from './support/promql.js';
import {
  DASHBOARDS_DIR,
  loadDashboard,
  loadRules,
  panelQueries,
  queryPanels,
  ruleQueries,
  variableQuery,
  type Query,
} from './support/queries.js';
import { TRAFFIC_ENV, trafficRound } from './support/traffic.js';

const dashboard = loadDashboard();
const rules = loadRules();
const STATIC_VALUES = { rateInterval: '1m', vars: { job: '.*', instance: '.*' } };
const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));

function namesOf(q: Query): string[] {
  return metricNames(substituteTemplate(q.expr, STATIC_VALUES));
}

describe('Grafana dashboard', () => {
  const panels = queryPanels(dashboard);
  const queries = panelQueries(dashboard);

  it('is a current-schema dashboard with a stable uid and unique panel ids', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(dashboard.uid).toBe('archibald-realtime');
    const ids = dashboard.panels.flatMap((p) => [p.id, ...(p.panels ?? []).map((c) => c.id)]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('has a Prometheus data source variable and job / instance variables from label_values', () => {
    const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    expect(vars.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const name of ['job', 'instance']) {
      const v = vars.get(name);
      expect(v, name).toMatchObject({ type: 'query', datasource: { type: 'prometheus', uid: '${datasource}' }, allValue: '.*' });
      expect(variableQuery(v!)).toMatch(new RegExp(`^label_values\\(.*, ${name}\\)$`));
    }
    expect(variableQuery(vars.get('instance')!)).toContain('job=~"$job"');
  });

  it('every panel reads the data source variable and has a unit and queries', () => {
    expect(panels.length).toBeGreaterThan(20);
    for (const p of panels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.fieldConfig?.defaults?.unit, `unit of "${p.title}"`).toMatch(/\S/);
      expect(p.targets?.length, `queries of "${p.title}"`).toBeGreaterThan(0);
    }
  });

  it('every range uses $__rate_interval and every selector filters on $job and $instance', () => {
    for (const q of queries) {
      const ranges = q.expr.match(/\[[^\]]*\]/g) ?? [];
      for (const r of ranges) expect(r, q.where).toBe('[$__rate_interval]');
      if (/\b(i?rate|increase|deriv|delta)\(/.test(q.expr)) expect(ranges.length, q.where).toBeGreaterThan(0);
      for (const s of q.expr.match(/\{[^}]*\}/g) ?? []) expect(s, q.where).toMatch(/job=~"\$job",instance=~"\$instance"/);
      // a metric without a selector would ignore the variables
      for (const n of namesOf(q)) {
        expect(q.expr, `${q.where}: ${n} without {job, instance}`).not.toMatch(new RegExp(`(?<![\\w:])${n}(?![\\w:{])`));
      }
    }
  });

  it('covers what operators look at', () => {
    const needed = [
      'rt_ws_connections{',
      'rt_ws_users{',
      'rate(rt_events_published_total{',
      'rate(rt_events_delivered_total{',
      'rate(rt_replays_total{',
      'sum by (reason) (rate(rt_resyncs_total{',
      'rate(rt_slow_consumer_closes_total{',
      'sum by (method, route) (rate(http_request_duration_seconds_count{',
      'histogram_quantile(0.99, sum by (le, method, route) (rate(http_request_duration_seconds_bucket{',
      'status=~"5.."',
      'max by (state) (rt_job_queue_depth{',
      'rate(rt_jobs_total{job=~"$job",instance=~"$instance",outcome="failed"}',
      'nodejs_eventloop_lag_seconds{',
      'process_resident_memory_bytes{',
      'nodejs_heap_size_used_bytes{',
      'rt_buffer_events{',
      'rt_buffer_bytes{',
      'rate(rt_auth_failures_total{',
      'rate(rt_publish_failures_total{',
      'rate(rt_gap_fills_total{',
    ];
    for (const q of ['0.5', '0.9', '0.99']) needed.push(`histogram_quantile(${q}, sum by (le) (rate(rt_event_delivery_latency_seconds_bucket{`);
    const missing = needed.filter((n) => !queries.some((q) => q.expr.includes(n)));
    expect(missing, 'no panel query contains these').toEqual([]);
  });
});

describe('Grafana provisioning', () => {
  it('provisions a Prometheus data source whose uid the dashboard can fall back to, and a file provider', () => {
    const ds = parse(readFileSync(join(DASHBOARDS_DIR, 'grafana/provisioning/datasources/prometheus.yml'), 'utf8'));
    expect(ds.apiVersion).toBe(1);
    expect(ds.datasources).toEqual([expect.objectContaining({ type: 'prometheus', uid: 'prometheus', access: 'proxy' })]);
    expect(ds.datasources[0].jsonData.timeInterval).toBe(
      (parse(readFileSync(join(DASHBOARDS_DIR, 'prometheus/prometheus.yml'), 'utf8')) as { global: { scrape_interval: string } }).global
        .scrape_interval,
    );
    const dash = parse(readFileSync(join(DASHBOARDS_DIR, 'grafana/provisioning/dashboards/archibald.yml'), 'utf8'));
    expect(dash.apiVersion).toBe(1);
    expect(dash.providers).toEqual([expect.objectContaining({ type: 'file', options: expect.objectContaining({ path: expect.any(String) }) })]);
  });
});

describe('Prometheus rules', () => {
  const alerts = rules.filter((r) => r.alert);

  it('has the agreed alerts, each with a severity and a summary and description', () => {
    const names = alerts.map((a) => a.alert);
    for (const n of [
      'RealtimeNoInstanceUp',
      'RealtimeDeliveryLatencyHigh',
      'RealtimeResyncSpike',
      'RealtimeHttp5xxRatioHigh',
      'RealtimeJobsFailing',
      'RealtimeSlowConsumerClosesSpike',
    ]) {
      expect(names).toContain(n);
    }
    for (const a of alerts) {
      expect(['critical', 'warning'], a.alert).toContain(a.labels?.severity);
      expect(a.annotations?.summary, a.alert).toMatch(/\S/);
      expect(a.annotations?.description, a.alert).toMatch(/\S/);
    }
    expect(alerts.find((a) => a.alert === 'RealtimeNoInstanceUp')!.expr).toBe('absent(up{job="archibald-realtime"} == 1)');
    expect(alerts.find((a) => a.alert === 'RealtimeDeliveryLatencyHigh')).toMatchObject({ for: '5m' });
  });

  it('reads recorded series only when a recording rule defines them', () => {
    for (const q of ruleQueries(rules)) {
      for (const n of metricNames(q.expr)) if (n.includes(':')) expect(recorded, `${q.where} reads ${n}`).toContain(n);
    }
    const latency = rules.find((r) => r.record === 'job:rt_event_delivery_latency_seconds:p99_5m');
    expect(latency?.expr).toContain('job_le:rt_event_delivery_latency_seconds_bucket:rate5m');
  });
});

describe('every metric queried exists on a live /metrics', () => {
  let svc: TestService;
  let metricsText = '';

  beforeAll(async () => {
    svc = await startService({ storage: 'pglite', env: TRAFFIC_ENV, logLevel: 'warn' });
    await trafficRound(svc);
    const res = await fetch(`${svc.url}/metrics`);
    expect(res.status).toBe(200);
    metricsText = await res.text();
  }, 60_000);

  afterAll(async () => {
    await svc?.close();
  });

  it('panels, variables and rules query only metrics the service exposes', () => {
    const expo = parseExposition(metricsText);
    const queries: Query[] = [
      ...panelQueries(dashboard),
      ...dashboard.templating.list
        .filter((v) => v.type === 'query')
        .map((v) => ({ where: `variable $${v.name}`, expr: `__variable__(${variableQuery(v)})` })),
      ...ruleQueries(rules),
    ];
    const problems: string[] = [];
    let checked = 0;
    for (const q of queries) {
      const names = q.where.startsWith('variable')
        ? variableQueryMetrics(substituteTemplate(q.expr.slice('__variable__('.length, -1), STATIC_VALUES))
        : namesOf(q);
      for (const n of names) {
        if (PROMETHEUS_GENERATED.has(n) || recorded.has(n)) continue;
        checked++;
        const e = exposure(expo, n);
        if (e !== 'sampled') problems.push(`${q.where}: ${n} is ${e} on /metrics`);
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(40);
  });

  it('the check can fail: a metric the service does not expose is reported', () => {
    const expo = parseExposition(metricsText);
    expect(exposure(expo, 'rt_no_such_metric_total')).toBe('missing');
    expect(exposure(expo, 'rt_event_delivery_latency_seconds_bucket')).toBe('sampled');
  });
});
