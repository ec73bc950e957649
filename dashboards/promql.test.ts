import { describe, expect, it } from 'vitest';
import { exposure, metricNames, parseExposition, substituteTemplate, variableQueryMetrics } from './support/promql.js';

describe('metricNames', () => {
  it.each([
    ['rt_ws_connections', ['rt_ws_connections']],
    ['sum by (instance) (rt_ws_connections{job=~".*",instance=~".*"})', ['rt_ws_connections']],
    [
      'histogram_quantile(0.99, sum by (le, type) (rate(rt_event_delivery_latency_seconds_bucket{job="x"}[5m])))',
      ['rt_event_delivery_latency_seconds_bucket'],
    ],
    [
      '(sum by (route) (rate(a_count{status=~"5.."}[1m])) or 0 * sum by (route) (rate(b_count[1m]))) / on (route) group_left (x) c',
      ['a_count', 'b_count', 'c'],
    ],
    ['absent(up{job="archibald-realtime"} == 1)', ['up']],
    ['max without (instance) (delta(rt_job_queue_depth{state="failed"}[15m] offset 5m)) > 0', ['rt_job_queue_depth']],
    ['{__name__="rt_ready", job="j"} and bool x:y:z', ['rt_ready', 'x:y:z']],
    ['sum(rate(m[1h30m:1m])) > 1e-3 unless vector(0)', ['m']],
    ['count_values("v", build_info) # comment with sum(other)', ['build_info']],
  ])('%s', (expr, names) => {
    expect(metricNames(expr).sort()).toEqual([...names].sort());
  });

  it('refuses unsubstituted template variables', () => {
    expect(() => metricNames('rate(x[$__rate_interval])')).toThrow(/substitute/);
  });
});

describe('substituteTemplate', () => {
  it('replaces Grafana built-ins and variables, and refuses unknown ones', () => {
    const v = { rateInterval: '30s', vars: { job: 'archibald-realtime', instance: '.*' } };
    expect(substituteTemplate('rate(x{job=~"$job",instance=~"${instance}"}[$__rate_interval])', v)).toBe(
      'rate(x{job=~"archibald-realtime",instance=~".*"}[30s])',
    );
    expect(() => substituteTemplate('x{a="$nope"}', v)).toThrow(/\$nope/);
  });
});

describe('variableQueryMetrics', () => {
  it('reads label_values and query_result queries', () => {
    expect(variableQueryMetrics('label_values(rt_ready{job=~".*"}, instance)')).toEqual(['rt_ready']);
    expect(variableQueryMetrics('label_values(rt_ready, job)')).toEqual(['rt_ready']);
    expect(variableQueryMetrics('query_result(topk(3, rt_ws_connections))')).toEqual(['rt_ws_connections']);
    expect(() => variableQueryMetrics('metrics(rt_.*)')).toThrow(/unsupported/);
  });
});

describe('exposure', () => {
  const expo = parseExposition(
    [
      '# HELP h A histogram',
      '# TYPE h histogram',
      'h_bucket{le="0.1",instance_id="a"} 1',
      'h_sum{instance_id="a"} 0.05',
      'h_count{instance_id="a"} 1',
      '# TYPE c_total counter',
      'c_total 3',
      '# TYPE labelled_total counter',
      '',
    ].join('\n'),
  );
  it('tells sampled, declared-only and missing metrics apart', () => {
    expect(exposure(expo, 'h_bucket')).toBe('sampled');
    expect(exposure(expo, 'h_count')).toBe('sampled');
    expect(exposure(expo, 'c_total')).toBe('sampled');
    expect(exposure(expo, 'labelled_total')).toBe('declared only');
    expect(exposure(expo, 'h')).toBe('declared only');
    expect(exposure(expo, 'nope_total')).toBe('missing');
  });
});
