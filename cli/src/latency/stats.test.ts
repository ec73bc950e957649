import { describe, expect, it } from 'vitest';
import { createHistogram, recordMs, summarize, TimeWindow } from './stats.js';

describe('summarize', () => {
  it('never reports a percentile above the recorded maximum', () => {
    const h = createHistogram();
    // 8.3 ms sits in a bucket whose highest equivalent value is above 8.3 ms.
    for (const ms of [6.4, 7.0, 7.7, 8.2, 8.3]) recordMs(h, ms);
    const s = summarize(h);
    expect(s.maxMs).toBe(8.3);
    expect(s.p999Ms).toBeLessThanOrEqual(s.maxMs!);
    expect(s.p99Ms).toBeLessThanOrEqual(s.maxMs!);
    expect(s.p50Ms).toBeCloseTo(7.7, 1); // the 3rd of 5
  });
});

describe('TimeWindow', () => {
  it('keeps only the samples of the last span, across compactions', () => {
    const w = new TimeWindow(1000);
    for (let t = 0; t < 5000; t += 1) w.push(t, t * 2);
    expect(w.count(5000)).toBe(1000); // 4000..4999
    expect(w.since(5000)[0]).toBe(8000);
    w.push(5000, 1);
    expect(w.since(5999)).toEqual([9998, 1]); // 4999 and 5000
    expect(w.count(10_000)).toBe(0);
  });
});
