/**
 * Just enough PromQL lexing to list the metric names an expression selects, so the dashboard and
 * the rules can be checked against a live `/metrics`. It is not a parser: it relies on PromQL's
 * grammar being regular at the token level (a bare identifier is a metric unless it is a keyword,
 * a function or aggregation being called, or a label in a `by (...)` / `on (...)` list).
 */

/** Grafana's built-in and template variables, replaced before lexing and before sending to Prometheus. */
export interface TemplateValues {
  rateInterval: string;
  interval?: string;
  vars: Record<string, string>;
}

export function substituteTemplate(expr: string, values: TemplateValues): string {
  const interval = values.interval ?? values.rateInterval;
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    if (name === '__rate_interval') return values.rateInterval;
    if (name === '__interval' || name === '__range' || name === '__auto') return interval;
    const v = values.vars[name];
    if (v === undefined) throw new Error(`no value for template variable $${name} in: ${whole}`);
    return v;
  });
}

const KEYWORDS = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'atan2', 'inf', 'nan',
]);
const AGGREGATIONS = new Set([
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio',
]);
/** Keywords followed by a parenthesised list of label names, not expressions. */
const LABEL_LISTS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

type Token = { kind: 'ident' | 'string' | 'number' | 'punct'; text: string };

function lex(expr: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      while (i < expr.length && expr[i] !== '\n') i++;
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      let text = '';
      while (j < expr.length && expr[j] !== c) {
        if (expr[j] === '\\' && c !== '`') j++;
        text += expr[j];
        j++;
      }
      if (j >= expr.length) throw new Error(`unterminated string in: ${expr}`);
      tokens.push({ kind: 'string', text });
      i = j + 1;
    } else if (/[0-9.]/.test(c)) {
      // numbers and durations (5m, 1h30m, 0.5, 1e-3, 0x1f)
      const m = /^(?:0x[0-9a-f]+|[0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?(?:ms|[smhdwy])?(?:[0-9]+(?:ms|[smhdwy]))*)/i.exec(expr.slice(i));
      if (!m || m[0] === '') throw new Error(`bad number at ${i} in: ${expr}`);
      tokens.push({ kind: 'number', text: m[0] });
      i += m[0].length;
    } else if (/[a-zA-Z_:]/.test(c)) {
      const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(expr.slice(i))!;
      tokens.push({ kind: 'ident', text: m[0] });
      i += m[0].length;
    } else {
      const two = expr.slice(i, i + 2);
      const p = ['==', '!=', '>=', '<=', '=~', '!~'].includes(two) ? two : c;
      tokens.push({ kind: 'punct', text: p });
      i += p.length;
    }
  }
  return tokens;
}

/** Metric names selected by a PromQL expression (template variables must be substituted first). */
export function metricNames(expr: string): string[] {
  if (/\$/.test(expr)) throw new Error(`substitute template variables first: ${expr}`);
  const t = lex(expr);
  const names = new Set<string>();
  for (let i = 0; i < t.length; i++) {
    const tok = t[i]!;
    if (tok.kind === 'punct' && tok.text === '{') {
      // A selector: labels, operators and values; `__name__="x"` names a metric.
      let j = i + 1;
      for (; j < t.length && t[j]!.text !== '}'; j++) {
        if (t[j]!.kind === 'ident' && t[j]!.text === '__name__' && t[j + 1]?.text === '=' && t[j + 2]?.kind === 'string') {
          names.add(t[j + 2]!.text);
        }
      }
      i = j;
      continue;
    }
    if (tok.kind === 'punct' && tok.text === '[') {
      while (i < t.length && t[i]!.text !== ']') i++;
      continue;
    }
    if (tok.kind !== 'ident') continue;
    const next = t[i + 1];
    if (LABEL_LISTS.has(tok.text) && next?.text === '(') {
      while (i < t.length && t[i]!.text !== ')') i++;
      continue;
    }
    if (KEYWORDS.has(tok.text) || AGGREGATIONS.has(tok.text)) continue;
    if (next?.text === '(') continue; // a function call
    names.add(tok.text);
  }
  return [...names];
}

/** The metric a Grafana `label_values(metric{...}, label)` or `query_result(expr)` variable query reads. */
export function variableQueryMetrics(query: string): string[] {
  const lv = /^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$/.exec(query);
  if (lv) return metricNames(lv[1]!);
  const qr = /^\s*query_result\((.*)\)\s*$/.exec(query);
  if (qr) return metricNames(qr[1]!);
  if (/^\s*label_values\(\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$/.test(query)) return [];
  throw new Error(`unsupported variable query: ${query}`);
}

/** Families and sample names in a Prometheus text exposition. */
export function parseExposition(text: string): { families: Map<string, string>; samples: Set<string> } {
  const families = new Map<string, string>();
  const samples = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) families.set(type[1]!, type[2]!);
    else if (line && !line.startsWith('#')) samples.add(/^[^{\s]+/.exec(line)![0]);
  }
  return { families, samples };
}

/** Series Prometheus makes itself, not the service: never on `/metrics`. */
export const PROMETHEUS_GENERATED = new Set([
  'up',
  'scrape_duration_seconds',
  'scrape_samples_scraped',
  'scrape_samples_post_metric_relabeling',
  'scrape_series_added',
  'ALERTS',
  'ALERTS_FOR_STATE',
]);

/**
 * Whether `/metrics` has samples for `name`. A histogram is queried through its `_bucket`, `_sum` and
 * `_count` samples; a family that is declared (`# TYPE`) but has no samples yet is reported apart,
 * because a query on it returns nothing just the same.
 */
export function exposure(expo: ReturnType<typeof parseExposition>, name: string): 'sampled' | 'declared only' | 'missing' {
  if (expo.samples.has(name)) return 'sampled';
  const base = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1];
  if (expo.families.has(name) || (base !== undefined && expo.families.has(base))) return 'declared only';
  return 'missing';
}
