import { describe, expect, it } from 'vitest';
import { newDraft, startService } from '../../service/test/support/harness.js';
import { bucketDelta, byLabel, histogramBuckets, histogramQuantile, parsePrometheusText, parseSampleLine, sum } from './prometheus.js';
import { computeInstanceView } from './top-model.js';

describe('Prometheus text parsing', () => {
  it('reads names, labels (with escapes), values and skips comments', () => {
    expect(parseSampleLine('# HELP x y')).toBeNull();
    expect(parseSampleLine('up 1')).toEqual({ name: 'up', labels: {}, value: 1 });
    expect(parseSampleLine('m{a="x\\"y",b="c\\\\d",le="+Inf"} 2.5e3 1700000000')).toEqual({
      name: 'm',
      labels: { a: 'x"y', b: 'c\\d', le: '+Inf' },
      value: 2500,
    });
    expect(parseSampleLine('m{a="unterminated} 1')).toBeNull();
  });

  it('computes quantiles like histogram_quantile, and null without observations', () => {
    const b = [
      { le: 0.01, count: 50 },
      { le: 0.1, count: 90 },
      { le: Infinity, count: 100 },
    ];
    expect(histogramQuantile(0.5, b)).toBeCloseTo(0.01);
    expect(histogramQuantile(0.7, b)).toBeCloseTo(0.01 + 0.09 * (20 / 40));
    expect(histogramQuantile(0.99, b)).toBe(0.1); // in the +Inf bucket: the highest finite bound
    expect(histogramQuantile(0.5, bucketDelta(b, b))).toBeNull();
  });
});

describe('top model from a real service /metrics', () => {
  it('sees connections, published events by type and delivery latency', async () => {
    const svc = await startService({ storage: 'pglite', logLevel: 'warn' });
    try {
      const scrape = async () => ({ at: Date.now(), samples: parsePrometheusText(await (await fetch(`${svc.url}/metrics`)).text()) });
      const before = await scrape();
      const dev = await svc.device('u-top', 'phone');
      await dev.waitForType('HELLO');
      for (let i = 0; i < 3; i += 1) await svc.api('u-top').post('/api/drafts', newDraft());
      await dev.waitForSeq(3);
      const after = await scrape();
      expect(sum(after.samples, 'rt_ws_connections')).toBe(1);
      expect(byLabel(after.samples, 'rt_events_published_total', 'type').get('DRAFT_CREATED')).toBe(3);
      expect(histogramBuckets(after.samples, 'rt_event_delivery_latency_seconds').at(-1)).toEqual({ le: Infinity, count: 3 });

      const view = computeInstanceView(svc.url, [before, { ...after, at: before.at + 1000 }]);
      expect(view).toMatchObject({ instanceId: svc.app.instanceId, ready: true, connections: 1, users: 1, latencyCount: 3, latencyWindow: 'window' });
      expect(view.rates.find((r) => r.type === 'DRAFT_CREATED')).toMatchObject({ published: 3, delivered: 3, history: [3] });
      expect(view.p50).toBeGreaterThan(0);
      expect(view.p99).toBeGreaterThanOrEqual(view.p50!);
    } finally {
      await svc.close();
    }
  });
});
