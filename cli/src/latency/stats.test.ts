import { describe, expect, it } from 'vitest';
import { createHistogram, recordMs, summarize } from './stats.js';

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
