/**
 * Latency thresholds, k6 style: `p99<100`, `p(99.9)<=250ms`, `max<1s`, `rest.p99<200`,
 * `DRAFT_CREATED.p50<20`. A threshold names a metric (the end-to-end `delivery` latency by default,
 * `rest` for the REST response time, or an event type), a statistic, a comparison and a limit in ms.
 * Pure: parsing and evaluation only.
 */
import { STORED_EVENT_TYPES } from '../../../service/src/protocol/index.js';
import { usageError } from '../errors.js';
import type { Summary } from './stats.js';

export type Stat = 'p50' | 'p90' | 'p99' | 'p99.9' | 'max' | 'mean' | `p${number}`;
export type Op = '<' | '<=';

export interface Threshold {
  /** As written by the user (or built from --p99 etc.). */
  expression: string;
  /** 'delivery' (the headline), 'rest', or an event type such as DRAFT_CREATED. */
  metric: string;
  stat: Stat;
  /** Percentile as a number (99.9), null for max/mean. */
  percentile: number | null;
  op: Op;
  limitMs: number;
}

export interface ThresholdResult extends Threshold {
  actualMs: number | null;
  samples: number;
  pass: boolean;
  /** Why the figure deserves less trust (too few samples for the percentile, no samples). */
  warning: string | null;
}

const RE = /^\s*(?:([A-Za-z_][A-Za-z0-9_]*)[.:])?\s*(p\(?\s*(\d+(?:\.\d+)?)\s*\)?|max|mean|avg|med)\s*(<=|<)\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$/;

/** Parse one k6-like expression. Only upper bounds make sense for latency: `<` and `<=`. */
export function parseThreshold(expression: string): Threshold {
  const m = RE.exec(expression);
  if (!m) {
    throw usageError(
      `Invalid --threshold '${expression}': expected e.g. 'p99<100', 'p(99.9)<=250ms', 'max<1s', 'rest.p99<200' or 'DRAFT_CREATED.p50<20'`,
    );
  }
  const metric = m[1] ?? 'delivery';
  if (metric !== 'delivery' && metric !== 'rest' && !(STORED_EVENT_TYPES as readonly string[]).includes(metric)) {
    throw usageError(`Invalid --threshold '${expression}': the metric is delivery (the default), rest, or an event type (${STORED_EVENT_TYPES.join(', ')})`);
  }
  let stat: Stat;
  let percentile: number | null = null;
  if (m[3] !== undefined) {
    percentile = Number(m[3]);
    if (!(percentile > 0 && percentile <= 100)) throw usageError(`Invalid --threshold '${expression}': a percentile is between 0 and 100`);
    stat = percentile === 100 ? 'max' : (`p${m[3]}` as Stat);
    if (percentile === 100) percentile = null;
  } else {
    stat = m[2] === 'avg' ? 'mean' : m[2] === 'med' ? 'p50' : (m[2] as 'max' | 'mean');
    if (m[2] === 'med') percentile = 50;
  }
  const limitMs = Number(m[5]) * (m[6] === 's' ? 1000 : 1);
  return { expression: expression.trim(), metric, stat, percentile, op: m[4] as Op, limitMs };
}

/** A limit given to --p99 and friends: milliseconds (`100`, `100ms`, `0.5s`), or `off`. */
export function parseLimit(flag: string, value: string): number | null {
  const v = value.trim().toLowerCase();
  if (v === 'off' || v === 'none') return null;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s)?$/.exec(v);
  if (!m) throw usageError(`Invalid ${flag} '${value}': milliseconds (e.g. 100, 250ms, 1s) or 'off'`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

export interface ThresholdFlags {
  p50?: string;
  p90?: string;
  p99?: string;
  p999?: string;
  max?: string;
  threshold?: string[];
}

export const DEFAULT_P99_MS = 100;

/**
 * Thresholds from the flags: --p50/--p90/--p99/--p999/--max, then every --threshold. The default
 * `p99<100` on delivery applies unless p99 is set another way (or `--p99 off`).
 */
export function thresholdsFromFlags(flags: ThresholdFlags): Threshold[] {
  const out: Threshold[] = [];
  const simple: [keyof ThresholdFlags, string][] = [
    ['p50', 'p50'],
    ['p90', 'p90'],
    ['p99', 'p99'],
    ['p999', 'p99.9'],
    ['max', 'max'],
  ];
  for (const [flag, stat] of simple) {
    const raw = flags[flag];
    if (raw === undefined || Array.isArray(raw)) continue;
    const limit = parseLimit(`--${flag}`, raw);
    if (limit !== null) out.push(parseThreshold(`${stat}<${limit}`));
  }
  for (const expr of flags.threshold ?? []) out.push(parseThreshold(expr));
  const p99Given = flags.p99 !== undefined || out.some((t) => t.metric === 'delivery' && t.percentile === 99);
  if (!p99Given) out.unshift(parseThreshold(`p99<${DEFAULT_P99_MS}`));
  return out;
}

/** Smallest sample count for which a percentile is more than the maximum: p99 needs 100, p99.9 needs 1000. */
export function minSamplesFor(percentile: number): number {
  return Math.ceil(1 / (1 - percentile / 100) - 1e-9);
}

function actualOf(t: Threshold, s: Summary): number | null {
  if (s.count === 0) return null;
  if (t.stat === 'max') return s.maxMs;
  if (t.stat === 'mean') return s.meanMs;
  return s.percentile(t.percentile!);
}

/** Evaluate every threshold against the summaries by metric; no samples is a failure, never a pass. */
export function evaluateThresholds(thresholds: readonly Threshold[], summaries: (metric: string) => Summary | undefined): ThresholdResult[] {
  return thresholds.map((t) => {
    const s = summaries(t.metric);
    if (!s || s.count === 0) {
      return { ...t, actualMs: null, samples: 0, pass: false, warning: `no samples for ${t.metric}: nothing to measure` };
    }
    const actual = actualOf(t, s)!;
    const pass = t.op === '<' ? actual < t.limitMs : actual <= t.limitMs;
    let warning: string | null = null;
    if (t.percentile !== null && s.count < minSamplesFor(t.percentile)) {
      warning = `only ${s.count} sample(s): ${t.stat} needs at least ${minSamplesFor(t.percentile)} to differ from the maximum`;
    }
    return { ...t, actualMs: actual, samples: s.count, pass, warning };
  });
}

export function describeThreshold(t: Threshold): string {
  return `${t.metric} ${t.stat} ${t.op} ${t.limitMs} ms`;
}
