/**
 * A small SVG writer for the bench report: line charts (latency by percentile, latency against
 * rate) and grouped bar charts. No dependencies; the output is standalone SVG 1.1 that browsers,
 * GitHub's Markdown view and rsvg-convert render.
 */

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
}

export interface Axis {
  label: string;
  log?: boolean;
  /** Tick values and their labels; computed when absent. */
  ticks?: readonly (readonly [number, string])[];
  min?: number;
  max?: number;
}

export interface LineChart {
  title: string;
  x: Axis;
  y: Axis;
  series: readonly Series[];
  width?: number;
  height?: number;
  /** Where the legend goes; bottom-right suits latency curves, which rise to the right. */
  legend?: 'top-left' | 'bottom-right';
}

export interface BarChart {
  title: string;
  yLabel: string;
  /** One group per category; each value belongs to the series of the same index. */
  categories: readonly string[];
  series: readonly { name: string; values: readonly (number | null)[] }[];
  width?: number;
  height?: number;
}

/** Colour-blind-safe palette (Okabe–Ito). */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];

const M = { top: 44, right: 20, bottom: 52, left: 64 };

export function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

const num = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(2).replace(/\.?0+$/, ''));

/** 1-2-5 ticks covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** Powers of ten (with 2 and 5 between when the range is short) covering [min, max], min > 0. */
export function logTicks(min: number, max: number): number[] {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const mults = hi - lo <= 3 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e += 1) for (const m of mults) {
    const v = Number((m * 10 ** e).toPrecision(12));
    if (v >= min * 0.999 && v <= max * 1.001) ticks.push(v);
  }
  return ticks;
}

/** The nearest 1-2-5 × 10^k value below (or above) v > 0. */
export function snap125(v: number, dir: 'down' | 'up'): number {
  const e = Math.floor(Math.log10(v));
  const cands = [-1, 0, 1].flatMap((d) => [1, 2, 5].map((m) => Number((m * 10 ** (e + d)).toPrecision(12))));
  return dir === 'down' ? Math.max(...cands.filter((c) => c <= v * 1.000001)) : Math.min(...cands.filter((c) => c >= v * 0.999999));
}

function scale(axis: Axis, values: number[], from: number, to: number): { f: (v: number) => number; ticks: (readonly [number, string])[] } {
  const finite = values.filter((v) => Number.isFinite(v) && (!axis.log || v > 0));
  let min = axis.min ?? Math.min(...finite);
  let max = axis.max ?? Math.max(...finite);
  if (!Number.isFinite(min) || !Number.isFinite(max)) [min, max] = axis.log ? [1, 10] : [0, 1];
  if (axis.log) {
    min = Math.max(min, 1e-6);
    if (max <= min) max = min * 10;
    // Snap the ends outwards to 1-2-5 values so both ends carry a tick label.
    if (axis.min === undefined) min = snap125(min, 'down');
    if (axis.max === undefined) max = snap125(max, 'up');
    const l0 = Math.log10(min);
    const l1 = Math.log10(max);
    const f = (v: number) => from + ((Math.log10(Math.max(v, min)) - l0) / (l1 - l0)) * (to - from);
    return { f, ticks: (axis.ticks ?? logTicks(min, max).map((t) => [t, num(t)] as const)).map((t) => [t[0], t[1]] as const) };
  }
  if (axis.min === undefined) min = Math.min(0, min);
  if (max <= min) max = min + 1;
  const ticks = axis.ticks ?? niceTicks(min, max).map((t) => [t, num(t)] as const);
  max = Math.max(max, ...ticks.map((t) => t[0]));
  const f = (v: number) => from + ((v - min) / (max - min)) * (to - from);
  return { f, ticks: ticks.map((t) => [t[0], t[1]] as const) };
}

function frame(width: number, height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function legend(names: readonly string[], x: number, y: number): string[] {
  return names.flatMap((n, i) => [
    `<rect x="${x}" y="${y + i * 18 - 9}" width="14" height="10" fill="${PALETTE[i % PALETTE.length]}"/>`,
    `<text x="${x + 20}" y="${y + i * 18}">${escapeXml(n)}</text>`,
  ]);
}

export function lineChart(c: LineChart): string {
  const width = c.width ?? 720;
  const height = c.height ?? 400;
  const x0 = M.left;
  const x1 = width - M.right;
  const y0 = height - M.bottom;
  const y1 = M.top;
  const xs = scale(c.x, c.series.flatMap((s) => s.points.map((p) => p[0])), x0, x1);
  const ys = scale(c.y, c.series.flatMap((s) => s.points.map((p) => p[1])), y0, y1);
  const body: string[] = [];
  for (const [v, label] of ys.ticks) {
    const y = ys.f(v).toFixed(1);
    body.push(`<line x1="${x0}" y1="${y}" x2="${x1}" y2="${y}" stroke="#e0e0e0"/>`);
    body.push(`<text x="${x0 - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(label)}</text>`);
  }
  for (const [v, label] of xs.ticks) {
    const x = xs.f(v).toFixed(1);
    body.push(`<line x1="${x}" y1="${y1}" x2="${x}" y2="${y0}" stroke="#f0f0f0"/>`);
    body.push(`<text x="${x}" y="${y0 + 16}" text-anchor="middle">${escapeXml(label)}</text>`);
  }
  body.push(`<line x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}" stroke="#333"/>`, `<line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y1}" stroke="#333"/>`);
  body.push(`<text x="${(x0 + x1) / 2}" y="${height - 12}" text-anchor="middle">${escapeXml(c.x.label)}</text>`);
  body.push(`<text transform="translate(16 ${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(c.y.label)}</text>`);
  c.series.forEach((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]));
    if (pts.length === 0) return;
    const colour = PALETTE[i % PALETTE.length];
    const d = pts.map((p, j) => `${j === 0 ? 'M' : 'L'}${xs.f(p[0]).toFixed(1)} ${ys.f(p[1]).toFixed(1)}`).join(' ');
    body.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    for (const p of pts) body.push(`<circle cx="${xs.f(p[0]).toFixed(1)}" cy="${ys.f(p[1]).toFixed(1)}" r="2.5" fill="${colour}"/>`);
  });
  const names = c.series.map((s) => s.name);
  if ((c.legend ?? 'bottom-right') === 'top-left') body.push(...legend(names, x0 + 12, y1 + 14));
  else {
    const w = Math.max(...names.map((n) => n.length)) * 6.5 + 30;
    body.push(`<rect x="${(x1 - w - 8).toFixed(1)}" y="${(y0 - names.length * 18 - 10).toFixed(1)}" width="${w.toFixed(1)}" height="${names.length * 18 + 4}" fill="#ffffff" fill-opacity="0.85"/>`);
    body.push(...legend(names, x1 - w, y0 - names.length * 18 + 4));
  }
  return frame(width, height, c.title, body);
}

export function barChart(c: BarChart): string {
  const width = c.width ?? 720;
  const height = c.height ?? 360;
  const x0 = M.left;
  const x1 = width - M.right;
  const y0 = height - M.bottom;
  const y1 = M.top + 18 * Math.max(0, c.series.length - 1);
  const values = c.series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const ys = scale({ label: c.yLabel }, values.length ? values : [1], y0, y1);
  const body: string[] = [];
  for (const [v, label] of ys.ticks) {
    const y = ys.f(v).toFixed(1);
    body.push(`<line x1="${x0}" y1="${y}" x2="${x1}" y2="${y}" stroke="#e0e0e0"/>`);
    body.push(`<text x="${x0 - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(label)}</text>`);
  }
  const groupW = (x1 - x0) / Math.max(1, c.categories.length);
  const barW = (groupW * 0.7) / Math.max(1, c.series.length);
  c.categories.forEach((cat, g) => {
    const gx = x0 + g * groupW + groupW * 0.15;
    c.series.forEach((s, i) => {
      const v = s.values[g];
      if (v === null || v === undefined || !Number.isFinite(v)) return;
      const top = ys.f(Math.max(0, v));
      const zero = ys.f(0);
      const x = gx + i * barW;
      body.push(`<rect x="${x.toFixed(1)}" y="${Math.min(top, zero).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${Math.abs(zero - top).toFixed(1)}" fill="${PALETTE[i % PALETTE.length]}"><title>${escapeXml(`${s.name} ${cat}: ${num(v)}`)}</title></rect>`);
      body.push(`<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(Math.min(top, zero) - 4).toFixed(1)}" text-anchor="middle" font-size="10">${escapeXml(num(v))}</text>`);
    });
    body.push(`<text x="${(x0 + g * groupW + groupW / 2).toFixed(1)}" y="${y0 + 16}" text-anchor="middle">${escapeXml(cat)}</text>`);
  });
  body.push(`<line x1="${x0}" y1="${ys.f(0).toFixed(1)}" x2="${x1}" y2="${ys.f(0).toFixed(1)}" stroke="#333"/>`);
  body.push(`<text transform="translate(16 ${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(c.yLabel)}</text>`);
  body.push(...legend(c.series.map((s) => s.name), x0 + 12, M.top + 2));
  return frame(width, height, c.title, body);
}

/** x coordinate for a percentile on a "nines" axis: 0 → 0, 90 → 1, 99 → 2, 99.9 → 3. */
export const nines = (fraction: number): number => -Math.log10(Math.max(1e-6, 1 - Math.min(fraction, 0.999999)));

export const NINES_TICKS: readonly (readonly [number, string])[] = [
  [0, '0%'],
  [nines(0.5), '50%'],
  [1, '90%'],
  [2, '99%'],
  [3, '99.9%'],
  [4, '99.99%'],
];

/** Latency by percentile (HdrHistogram's percentile plot) from [ms, fraction] CDF points. */
export function percentileChart(title: string, series: readonly { name: string; cdf: readonly (readonly [number, number])[] }[], logY = true): string {
  return lineChart({
    title,
    x: { label: 'percentile', ticks: NINES_TICKS, min: 0, max: 4 },
    y: { label: 'latency (ms)', log: logY },
    series: series.map((s) => ({ name: s.name, points: s.cdf.map(([ms, f]) => [Math.min(nines(f), 4), ms] as const) })),
  });
}
