/**
 * A minimal stand-in for k6-jslib-summary's `textSummary` and `jUnit`
 * (https://jslib.k6.io/k6-summary/0.1.0/index.js), with the same call shapes, so handleSummary works
 * offline and on any k6 version. Written for this repository: no upstream code is copied (if you
 * swap in the upstream file, keep the upstream licence header with it).
 */

interface MetricData {
  type: 'counter' | 'gauge' | 'rate' | 'trend';
  contains?: string;
  values: Record<string, number>;
  thresholds?: Record<string, { ok: boolean }>;
}

export interface SummaryData {
  metrics: Record<string, MetricData>;
  state?: { testRunDurationMs?: number };
}

const fmt = (v: number, contains?: string): string => {
  if (contains === 'time') return v >= 1000 ? `${(v / 1000).toFixed(2)}s` : `${v.toFixed(2)}ms`;
  return Number.isInteger(v) ? String(v) : v.toFixed(4);
};

export function textSummary(data: SummaryData, opts: { indent?: string } = {}): string {
  const indent = opts.indent ?? ' ';
  const lines: string[] = [];
  for (const name of Object.keys(data.metrics).sort()) {
    const m = data.metrics[name]!;
    const values = Object.entries(m.values)
      .map(([k, v]) => `${k}=${m.type === 'rate' && k === 'rate' ? `${(v * 100).toFixed(2)}%` : fmt(v, m.contains)}`)
      .join(' ');
    const failed = Object.entries(m.thresholds ?? {}).filter(([, t]) => !t.ok);
    const mark = m.thresholds ? (failed.length ? '✗' : '✓') : ' ';
    lines.push(`${indent}${mark} ${name}${'.'.repeat(Math.max(1, 32 - name.length))}: ${values}`);
    for (const [expr, t] of Object.entries(m.thresholds ?? {})) lines.push(`${indent}    ${t.ok ? '✓' : '✗'} ${expr}`);
  }
  if (data.state?.testRunDurationMs !== undefined) lines.push(`${indent}  run took ${(data.state.testRunDurationMs / 1000).toFixed(1)} s`);
  return `${lines.join('\n')}\n`;
}

const esc = (s: string): string => s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);

/** One <testcase> per threshold; a failed threshold is a <failure>. */
export function jUnit(data: SummaryData, opts: { name?: string; classname?: string } = {}): string {
  const name = opts.name ?? 'k6 thresholds';
  const cls = opts.classname ?? 'k6';
  const cases: string[] = [];
  let failures = 0;
  for (const [metric, m] of Object.entries(data.metrics)) {
    for (const [expr, t] of Object.entries(m.thresholds ?? {})) {
      const id = esc(`${metric} - ${expr}`);
      if (t.ok) cases.push(`    <testcase name="${id}" classname="${esc(cls)}"/>`);
      else {
        failures += 1;
        cases.push(`    <testcase name="${id}" classname="${esc(cls)}"><failure message="${id} failed"/></testcase>`);
      }
    }
  }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites tests="${cases.length}" failures="${failures}">`,
    `  <testsuite name="${esc(name)}" tests="${cases.length}" failures="${failures}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
