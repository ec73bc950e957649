/**
 * Latency histograms and percentiles for the load tests (DESIGN §8: HDR histograms, p50…p99.9, max).
 *
 * Values are recorded in microseconds in Node's HDR histogram (`perf_hooks.createHistogram`, 3
 * significant digits) and reported in milliseconds. Recording clamps to [1 µs, 1 h] so a zero or a
 * runaway value never throws.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { decodeHistogram } from '../../cli/src/latency/stats.js';

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p99_9: number;
  max: number;
  mean: number;
}

const MAX_US = 3_600_000_000;

/** The percentiles a drawn CDF is sampled at. */
const CDF_PERCENTILES = [0.1, 1, 5, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 97, 98, 99, 99.5, 99.9, 99.95, 99.99];

export class LatencyHistogram {
  private readonly h: RecordableHistogram = createHistogram({ lowest: 1, highest: MAX_US, figures: 3 });

  /** Record one latency in milliseconds (fractions kept to the microsecond). */
  recordMs(ms: number): void {
    const us = Math.round(ms * 1000);
    this.h.record(Math.min(MAX_US, Math.max(1, Number.isFinite(us) ? us : MAX_US)));
  }

  get count(): number {
    return this.h.count;
  }

  /** Percentile in ms (0 when empty). */
  percentileMs(p: number): number {
    return this.h.count === 0 ? 0 : this.h.percentile(p) / 1000;
  }

  summary(): LatencySummary {
    if (this.h.count === 0) return { count: 0, p50: 0, p90: 0, p99: 0, p99_9: 0, max: 0, mean: 0 };
    return {
      count: this.h.count,
      p50: round(this.percentileMs(50)),
      p90: round(this.percentileMs(90)),
      p99: round(this.percentileMs(99)),
      p99_9: round(this.percentileMs(99.9)),
      max: round(this.h.max / 1000),
      mean: round(this.h.mean / 1000),
    };
  }

  /**
   * The cumulative distribution as [ms, fraction ≤ ms] points, at log-spaced percentiles
   * (0…99.99 and the max), enough to draw a CDF without keeping every sample.
   */
  cdf(): [number, number][] {
    if (this.h.count === 0) return [];
    const pts: [number, number][] = CDF_PERCENTILES.map((p) => [this.percentileMs(p), p / 100]);
    pts.push([this.h.max / 1000, 1]);
    return pts;
  }
}

/** The same CDF points from an encoded HdrHistogram in µs (rtctl's `deliveryHistogram`). */
export function cdfOfEncoded(encoded: string | null): [number, number][] {
  if (!encoded) return [];
  const h = decodeHistogram(encoded);
  if (h.totalCount === 0) return [];
  const pts: [number, number][] = CDF_PERCENTILES.map((p) => [Math.min(h.getValueAtPercentile(p), h.maxValue) / 1000, p / 100]);
  pts.push([h.maxValue / 1000, 1]);
  return pts;
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Exact percentile of a small sample (nearest-rank), for tests and tiny runs. */
export function percentileOf(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export const fmtMs = (s: LatencySummary): string =>
  `p50 ${s.p50.toFixed(2)}  p90 ${s.p90.toFixed(2)}  p99 ${s.p99.toFixed(2)}  p99.9 ${s.p99_9.toFixed(2)}  max ${s.max.toFixed(2)} ms  (n=${s.count})`;
