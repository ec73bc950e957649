import { describe, expect, it } from 'vitest';
import { FanoutTracker } from './observers.js';
import { LatencyHistogram, percentileOf } from './stats.js';

describe('latency histogram', () => {
  it('matches exact percentiles within the HDR precision (3 significant digits)', () => {
    const values = Array.from({ length: 10_000 }, (_, i) => 0.5 + ((i * 7919) % 10_000) / 100); // 0.5 … 100.49 ms
    const h = new LatencyHistogram();
    for (const v of values) h.recordMs(v);
    const s = h.summary();
    expect(s.count).toBe(10_000);
    for (const [p, got] of [[50, s.p50], [90, s.p90], [99, s.p99], [99.9, s.p99_9]] as const) {
      expect(Math.abs(got - percentileOf(values, p))).toBeLessThanOrEqual(percentileOf(values, p) * 0.002 + 0.01);
    }
    expect(Math.abs(s.max - 100.49)).toBeLessThan(100.49 * 0.002); // HDR reports the bucket's top
    expect(s.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 1);
  });

  it('reports zeros when empty and clamps odd values instead of throwing', () => {
    const h = new LatencyHistogram();
    expect(h.summary()).toEqual({ count: 0, p50: 0, p90: 0, p99: 0, p99_9: 0, max: 0, mean: 0 });
    expect(h.cdf()).toEqual([]);
    h.recordMs(-5);
    h.recordMs(0);
    h.recordMs(Number.NaN);
    expect(h.count).toBe(3);
  });

  it('gives a monotone CDF ending at the max', () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 1000; i += 1) h.recordMs(i / 10);
    const cdf = h.cdf();
    for (let i = 1; i < cdf.length; i += 1) {
      expect(cdf[i]![0]).toBeGreaterThanOrEqual(cdf[i - 1]![0]);
      expect(cdf[i]![1]).toBeGreaterThanOrEqual(cdf[i - 1]![1]);
    }
    expect(cdf.at(-1)![1]).toBe(1);
    expect(Math.abs(cdf.at(-1)![0] - 100)).toBeLessThan(0.2);
  });

  it('nearest-rank percentile of a small sample', () => {
    expect(percentileOf([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentileOf([5, 1, 4, 2, 3], 100)).toBe(5);
    expect(percentileOf([], 50)).toBe(0);
  });
});

describe('fan-out tracker', () => {
  it('counts deliveries, missing, duplicates and unknown events, measuring from the due time', async () => {
    const t = new FanoutTracker();
    t.expect('a', 100, 2);
    t.expect('b', 200, 2, false); // warm-up: counted, not measured
    t.expect('c', 300, 1);
    t.arrived('a', 105);
    t.arrived('a', 110);
    t.arrived('a', 111); // third copy for two observers
    t.arrived('b', 250);
    t.arrived('zzz', 1);
    t.forget('c'); // its write failed
    expect(t.counters()).toEqual({ expected: 4, delivered: 3, missing: 1, duplicates: 1, gaps: 0, resyncs: 0, unknown: 1 });
    expect(t.hist.summary().count).toBe(2);
    expect(t.hist.summary().max).toBeCloseTo(10, 1);
    const settled = t.settle(10_000);
    t.arrived('b', 260);
    await settled;
    expect(t.outstanding()).toBe(0);
  });
});
