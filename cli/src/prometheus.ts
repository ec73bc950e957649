/**
 * Just enough of the Prometheus text exposition format (0.0.4) for `rtctl top`: samples with labels,
 * sums, and histogram quantiles computed like PromQL's histogram_quantile.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

function parseValue(s: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  return Number(s);
}

/** Parse one sample line; null for comments, blanks and lines that do not parse. */
export function parseSampleLine(line: string): Sample | null {
  const t = line.trim();
  if (t === '' || t.startsWith('#')) return null;
  const m = NAME_RE.exec(t);
  if (!m) return null;
  const name = m[0];
  let i = name.length;
  const labels: Record<string, string> = {};
  if (t[i] === '{') {
    i += 1;
    while (i < t.length && t[i] !== '}') {
      const eq = t.indexOf('=', i);
      if (eq < 0 || t[eq + 1] !== '"') return null;
      const key = t.slice(i, eq).trim();
      let j = eq + 2;
      let value = '';
      while (j < t.length && t[j] !== '"') {
        if (t[j] === '\\' && j + 1 < t.length) {
          const c = t[j + 1];
          value += c === 'n' ? '\n' : c;
          j += 2;
        } else {
          value += t[j];
          j += 1;
        }
      }
      if (j >= t.length) return null;
      labels[key] = value;
      i = j + 1;
      if (t[i] === ',') i += 1;
    }
    if (t[i] !== '}') return null;
    i += 1;
  }
  const rest = t.slice(i).trim().split(/\s+/);
  if (rest[0] === undefined || rest[0] === '') return null;
  const value = parseValue(rest[0]);
  if (Number.isNaN(value) && rest[0] !== 'NaN') return null;
  return { name, labels, value };
}

export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const s = parseSampleLine(line);
    if (s) out.push(s);
  }
  return out;
}

/** Sum of every sample named `name` (all label sets), or null when there is none. */
export function sum(samples: readonly Sample[], name: string): number | null {
  let found = false;
  let total = 0;
  for (const s of samples) {
    if (s.name === name) {
      found = true;
      total += s.value;
    }
  }
  return found ? total : null;
}

/** Values of `name` grouped by one label (summed over the others). */
export function byLabel(samples: readonly Sample[], name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== name) continue;
    const k = s.labels[label] ?? '';
    out.set(k, (out.get(k) ?? 0) + s.value);
  }
  return out;
}

export interface Bucket {
  le: number;
  count: number;
}

/** Cumulative buckets of histogram `name` (`name_bucket`), summed over every other label, sorted by le. */
export function histogramBuckets(samples: readonly Sample[], name: string): Bucket[] {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || s.labels.le === undefined) continue;
    const le = parseValue(s.labels.le);
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  return [...byLe.entries()].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

/** Bucket counts of `later` minus `earlier` (same le set): the observations between two scrapes. */
export function bucketDelta(later: readonly Bucket[], earlier: readonly Bucket[]): Bucket[] {
  const before = new Map(earlier.map((b) => [b.le, b.count]));
  return later.map((b) => ({ le: b.le, count: Math.max(0, b.count - (before.get(b.le) ?? 0)) }));
}

/**
 * The q-quantile (0..1) of cumulative buckets, interpolated linearly inside the bucket like PromQL.
 * Null without observations. A quantile in the +Inf bucket returns the highest finite bound.
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number | null {
  if (buckets.length === 0) return null;
  const total = buckets[buckets.length - 1]!.count;
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe;
      const inBucket = b.count - prevCount;
      if (inBucket <= 0) return b.le;
      return prevLe + (b.le - prevLe) * ((rank - prevCount) / inBucket);
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}
