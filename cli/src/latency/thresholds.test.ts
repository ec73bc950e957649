import { describe, expect, it } from 'vitest';
import { CliError } from '../errors.js';
import { parseDuration, parseLatencyOptions, parseLoss, parseMix } from './options.js';
import { createHistogram, recordMs, summarize } from './stats.js';
import { evaluateThresholds, minSamplesFor, parseThreshold, thresholdsFromFlags } from './thresholds.js';

const usage = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    return (err as CliError).exitCode;
  }
  throw new Error('expected a usage error');
};

describe('threshold expressions', () => {
  it('parses k6-like forms into metric, statistic, comparison and a limit in ms', () => {
    expect(parseThreshold('p99<100')).toMatchObject({ metric: 'delivery', stat: 'p99', percentile: 99, op: '<', limitMs: 100 });
    expect(parseThreshold('p(99.9) <= 250ms')).toMatchObject({ stat: 'p99.9', percentile: 99.9, op: '<=', limitMs: 250 });
    expect(parseThreshold('max<1s')).toMatchObject({ stat: 'max', percentile: null, limitMs: 1000 });
    expect(parseThreshold('rest.p99<200')).toMatchObject({ metric: 'rest', stat: 'p99' });
    expect(parseThreshold('DRAFT_CREATED.p50<20')).toMatchObject({ metric: 'DRAFT_CREATED', stat: 'p50', percentile: 50 });
    expect(parseThreshold('avg<10')).toMatchObject({ stat: 'mean' });
    expect(parseThreshold('med<10')).toMatchObject({ stat: 'p50', percentile: 50 });
    expect(parseThreshold('p(100)<10')).toMatchObject({ stat: 'max', percentile: null });
  });

  it('refuses lower bounds, unknown statistics and garbage with a usage error (exit 2)', () => {
    for (const bad of ['p99>100', 'p99', 'p101<5', 'min<3', 'p99<fast', '', 'DRAFT_CREATD.p50<20']) expect(usage(() => parseThreshold(bad))).toBe(2);
  });

  it('adds the default p99<100 unless p99 is given some way, and --p99 off drops it', () => {
    expect(thresholdsFromFlags({}).map((t) => t.expression)).toEqual(['p99<100']);
    expect(thresholdsFromFlags({ p50: '20', max: '1s' }).map((t) => t.expression)).toEqual(['p99<100', 'p50<20', 'max<1000']);
    expect(thresholdsFromFlags({ p99: '50' }).map((t) => t.expression)).toEqual(['p99<50']);
    expect(thresholdsFromFlags({ threshold: ['p(99)<80'] }).map((t) => t.expression)).toEqual(['p(99)<80']);
    expect(thresholdsFromFlags({ p99: 'off' })).toEqual([]);
    expect(thresholdsFromFlags({ p999: '250' }).map((t) => t.stat)).toEqual(['p99', 'p99.9']);
    expect(usage(() => thresholdsFromFlags({ p90: 'soon' }))).toBe(2);
  });
});

describe('threshold evaluation', () => {
  const summaryOf = (values: number[]) => {
    const h = createHistogram();
    for (const v of values) recordMs(h, v);
    return summarize(h);
  };

  it('passes and fails on the figure, strict < versus <=', () => {
    const s = summaryOf(Array.from({ length: 1000 }, (_, i) => (i < 990 ? 10 : 150)));
    const [p99, p999, le] = evaluateThresholds([parseThreshold('p99<100'), parseThreshold('p99.9<100'), parseThreshold('p50<=10.01')], () => s);
    expect(p99).toMatchObject({ pass: true, samples: 1000, warning: null });
    expect(p99!.actualMs).toBeCloseTo(10, 1);
    expect(p999).toMatchObject({ pass: false });
    expect(p999!.actualMs).toBeCloseTo(150, 0);
    expect(le).toMatchObject({ pass: true });
  });

  it('fails with no samples, and warns when a percentile has too few samples to mean anything', () => {
    const empty = evaluateThresholds([parseThreshold('p99<100')], () => summaryOf([]));
    expect(empty[0]).toMatchObject({ pass: false, actualMs: null, samples: 0 });
    const missingMetric = evaluateThresholds([parseThreshold('JOB_FAILED.p50<5')], () => undefined); // a type the run never saw
    expect(missingMetric[0]).toMatchObject({ pass: false });
    const few = evaluateThresholds([parseThreshold('p99.9<100')], () => summaryOf([1, 2, 3]));
    expect(few[0]!.pass).toBe(true);
    expect(few[0]!.warning).toMatch(/only 3 sample\(s\): p99\.9 needs at least 1000/);
    expect([minSamplesFor(50), minSamplesFor(90), minSamplesFor(99), minSamplesFor(99.9)]).toEqual([2, 10, 100, 1000]);
  });
});

describe('latency options', () => {
  it('parses durations, mixes and loss', () => {
    expect([parseDuration('--d', '20s'), parseDuration('--d', '1m30s'), parseDuration('--d', '500ms'), parseDuration('--d', '3')]).toEqual([20_000, 90_000, 500, 3000]);
    expect(usage(() => parseDuration('--d', '20 seconds'))).toBe(2);
    expect(parseMix('create=1,batch=3')).toMatchObject({ create: 1, batch: 3, update: 0 });
    expect(usage(() => parseMix('create=0'))).toBe(2);
    expect(usage(() => parseMix('upsert=5'))).toBe(2);
    expect([parseLoss('0'), parseLoss('0.1%'), parseLoss('0.002')]).toEqual([0, 0.001, 0.002]);
    expect(usage(() => parseLoss('lots'))).toBe(2);
  });

  it('validates the whole set: one writer plus observers, duration or writes, not both', () => {
    const c = parseLatencyOptions({ users: '20', devices: '3', rate: '50', duration: '20s', warmup: '5s', runId: 'abc' });
    expect(c).toMatchObject({ users: 20, devices: 3, rate: 50, durationMs: 20_000, writes: null, warmupMs: 5000, maxLoss: 0, cleanup: true, runId: 'abc' });
    expect(c.thresholds.map((t) => t.expression)).toEqual(['p99<100']);
    expect(parseLatencyOptions({ writes: '100' })).toMatchObject({ writes: 100, durationMs: null });
    expect(usage(() => parseLatencyOptions({ devices: '1' }))).toBe(2);
    expect(usage(() => parseLatencyOptions({ writes: '10', duration: '5s' }))).toBe(2);
    expect(usage(() => parseLatencyOptions({ rate: '0' }))).toBe(2);
    expect(usage(() => parseLatencyOptions({ users: 'many' }))).toBe(2);
  });
});
