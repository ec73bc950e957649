import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import type { LiveSnapshot } from '../latency/engine.js';
import { LatencyView } from './LatencyView.js';

const snap: LiveSnapshot = {
  phase: 'measuring',
  elapsedMs: 12_300,
  sent: 600,
  total: 1250,
  warmupWrites: 250,
  rate: 49,
  targetRate: 50,
  rolling: { p50: 8.2, p90: 14.5, p99: 31.0, count: 245 },
  buckets: [0, 0, 10, 200, 120, 15, 2, 0, 0, 0, 0, 0],
  measured: 347,
  missing: 0,
  duplicates: 0,
  outOfOrder: 0,
  crossUser: 0,
  failedWrites: 0,
  reconnects: 1,
  eventLoopP99Ms: 1.2,
  lateMaxMs: 0.8,
};

describe('LatencyView', () => {
  it('shows progress, rate, rolling percentiles, correctness counters and the histogram', () => {
    const { lastFrame } = render(<LatencyView snap={snap} color={false} title="rtctl latency  run abc" />);
    const frame = lastFrame()!;
    expect(frame).toContain('rtctl latency  run abc');
    expect(frame).toMatch(/measuring .* 600\/1250 writes {2}12\.3s {2}49\/s \(target 50\/s\)/);
    expect(frame).toContain('last 5 s: p50 8.2 ms  p90 14.5 ms  p99 31.0 ms');
    expect(frame).toContain('missing 0  duplicates 0  out-of-order 0  cross-user 0  failed writes 0  reconnects 1');
    expect(frame).toMatch(/≤ 10 ms ▇{40} 200/);
    expect(frame).toMatch(/> 2000 ms {2}0/);
  });
});
