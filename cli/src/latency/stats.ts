/**
 * HDR histograms (hdr-histogram-js) of latencies, recorded in microseconds with 3 significant
 * digits, summarized in milliseconds. Encoded histograms (`HISTFAAA…`, compressed base64) can be
 * decoded and added by any HdrHistogram implementation, so runs can be merged.
 */
import * as hdr from 'hdr-histogram-js';

export type Histogram = hdr.Histogram;

/** 1 µs to 1 hour; values above are clamped (a delivery that late is a failure anyway). */
const HIGHEST_US = 3_600_000_000;

export function createHistogram(): Histogram {
  return hdr.build({ bitBucketSize: 32, lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3, autoResize: false });
}

export function recordMs(h: Histogram, ms: number): void {
  h.recordValue(Math.min(HIGHEST_US, Math.max(1, Math.round(ms * 1000))));
}

export interface Summary {
  count: number;
  minMs: number | null;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  p999Ms: number | null;
  maxMs: number | null;
  meanMs: number | null;
  /** Any percentile, in ms (null without samples). Not serialized. */
  percentile(p: number): number | null;
}

const round = (us: number) => Math.round(us) / 1000;

export function summarize(h: Histogram): Summary {
  const n = h.totalCount;
  // HDR returns the highest value of the percentile's bucket, which can exceed the exact maximum
  // recorded: cap it there, so a report never shows p99.9 > max.
  const at = (p: number) => (n === 0 ? null : round(Math.min(h.getValueAtPercentile(p), h.maxValue)));
  return {
    count: n,
    minMs: n === 0 ? null : round(h.minNonZeroValue),
    p50Ms: at(50),
    p90Ms: at(90),
    p99Ms: at(99),
    p999Ms: at(99.9),
    maxMs: n === 0 ? null : round(h.maxValue),
    meanMs: n === 0 ? null : Math.round(h.mean) / 1000,
    percentile: at,
  };
}

/** The JSON form of a summary (drops the function). */
export function summaryJson(s: Summary): Omit<Summary, 'percentile'> {
  const { percentile: _p, ...rest } = s;
  return rest;
}

export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decodeHistogram(encoded: string): Histogram {
  return hdr.decodeFromCompressedBase64(encoded, 32, false);
}

/**
 * The HdrHistogram log format (as written by HdrHistogram's HistogramLogWriter, read by
 * HistogramLogProcessor and hdr-histogram-js's HistogramLogReader): one tagged interval line per
 * histogram, values in microseconds.
 */
export function histogramLog(entries: { tag: string; histogram: Histogram }[], startMs: number, endMs: number): string {
  let out = '';
  const writer = new hdr.HistogramLogWriter((s) => (out += s));
  writer.outputComment('rtctl latency: end-to-end delivery latency, values in microseconds');
  writer.outputLogFormatVersion();
  writer.outputStartTime(startMs);
  writer.outputLegend();
  for (const e of entries) {
    e.histogram.tag = e.tag;
    writer.outputIntervalHistogram(e.histogram, 0, (endMs - startMs) / 1000, 1000);
  }
  return out;
}

/** Latency buckets (upper bounds in ms) for the live view's bar chart. */
export const BUCKETS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, Infinity] as const;

export function bucketIndex(ms: number): number {
  for (let i = 0; i < BUCKETS_MS.length; i += 1) if (ms <= BUCKETS_MS[i]!) return i;
  return BUCKETS_MS.length - 1;
}

/** Percentile of an unsorted sample (the live view's rolling window), nearest-rank. */
export function samplePercentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/**
 * Samples of the last `spanMs` (the live view's rolling percentiles, the achieved rate): appended
 * in time order, expired from the front by moving a head index (no per-sample shift or splice),
 * compacted once the expired part is the larger half.
 */
export class TimeWindow {
  private at: number[] = [];
  private values: number[] = [];
  private head = 0;

  constructor(private readonly spanMs: number) {}

  push(at: number, value = 0): void {
    this.at.push(at);
    this.values.push(value);
  }

  /** The values of the samples at or after `now - spanMs`. */
  since(now: number): number[] {
    this.expire(now);
    return this.values.slice(this.head);
  }

  /** How many samples are at or after `now - spanMs`. */
  count(now: number): number {
    this.expire(now);
    return this.at.length - this.head;
  }

  private expire(now: number): void {
    const from = now - this.spanMs;
    while (this.head < this.at.length && this.at[this.head]! < from) this.head += 1;
    if (this.head > 1024 && this.head * 2 > this.at.length) {
      this.at = this.at.slice(this.head);
      this.values = this.values.slice(this.head);
      this.head = 0;
    }
  }
}
