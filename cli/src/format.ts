/** Plain-text formatting shared by the line output and the Ink components. Pure functions. */

const ANSI = { dim: [2, 22], bold: [1, 22], red: [31, 39], green: [32, 39], yellow: [33, 39], cyan: [36, 39], magenta: [35, 39] } as const;
export type Style = keyof typeof ANSI;

export function paint(on: boolean, style: Style, s: string): string {
  if (!on) return s;
  const [a, b] = ANSI[style];
  return `\u001b[${a}m${s}\u001b[${b}m`;
}

/** 850 → '850ms', 12_400 → '12.4s', 125_000 → '2m05s', 7_500_000 → '2h05m'. */
export function formatDuration(ms: number): string {
  const neg = ms < 0;
  const a = Math.abs(ms);
  let s: string;
  if (a < 1000) s = `${Math.round(a)}ms`;
  else if (a < 60_000) s = `${(a / 1000).toFixed(1)}s`;
  else if (a < 3_600_000) s = `${Math.floor(a / 60_000)}m${String(Math.floor((a % 60_000) / 1000)).padStart(2, '0')}s`;
  else if (a < 86_400_000) s = `${Math.floor(a / 3_600_000)}h${String(Math.floor((a % 3_600_000) / 60_000)).padStart(2, '0')}m`;
  else s = `${Math.floor(a / 86_400_000)}d${String(Math.floor((a % 86_400_000) / 3_600_000)).padStart(2, '0')}h`;
  return neg ? `-${s}` : s;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** A payload field as text: strings and numbers as they are, anything else as JSON. */
export function str(v: unknown, fallback = ''): string {
  if (v === undefined || v === null) return fallback;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

export function shortId(id: unknown): string {
  const s = str(id);
  return s.length > 8 ? s.slice(0, 8) : s;
}

function truncate(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** One short line describing an event payload, by type; unknown types get compact JSON. */
export function summarizePayload(type: string, payload: unknown, max = 80): string {
  const p = (payload ?? {}) as Record<string, unknown>;
  const ids = (v: unknown) => (Array.isArray(v) ? v.map(shortId).slice(0, 3).join(', ') + (v.length > 3 ? ` +${v.length - 3}` : '') : '');
  let s: string;
  switch (type) {
    case 'DRAFT_CREATED':
    case 'DRAFT_UPDATED': {
      const d = (p.draft ?? {}) as Record<string, unknown>;
      const items = Array.isArray(d.items) ? d.items.length : 0;
      s = `draft ${shortId(p.draftId)} ${str(d.customerName)}, ${items} item${items === 1 ? '' : 's'}, v${str(d.version, '?')}`;
      break;
    }
    case 'DRAFT_DELETED':
      s = `draft ${shortId(p.draftId)} deleted`;
      break;
    case 'DRAFT_CONVERTED':
      s = `draft ${shortId(p.draftId)} → order ${shortId(p.pendingOrderId)}`;
      break;
    case 'PENDING_CREATED':
    case 'PENDING_UPDATED':
      s = `${str(p.count, '?')} order(s): ${ids(p.orderIds)}`;
      break;
    case 'PENDING_DELETED':
      s = `order ${shortId(p.orderId)}`;
      break;
    case 'JOB_PROGRESS':
      s = `job ${shortId(p.jobId)} order ${shortId(p.orderId)} ${str(p.progress)}% ${str(p.stage)}`;
      break;
    case 'JOB_STARTED':
    case 'JOB_COMPLETED':
    case 'JOB_FAILED':
      s = `job ${shortId(p.jobId)} order ${shortId(p.orderId)}${p.erpOrderNumber ? ` → ${str(p.erpOrderNumber)}` : ''}${p.error ? ` error: ${str(p.error)}` : ''}`;
      break;
    case 'ORDER_NUMBERS_RESOLVED': {
      const m = Array.isArray(p.mappings) ? (p.mappings as { orderId: string; erpOrderNumber: string }[]) : [];
      s = m.map((x) => `${shortId(x.orderId)}→${x.erpOrderNumber}`).join(', ');
      break;
    }
    default:
      s = JSON.stringify(payload) ?? '';
  }
  return truncate(s, max);
}

/** Glob-like type filter: 'DRAFT_*' or 'DRAFT_*,PENDING_CREATED'; undefined matches all. */
export function typeMatcher(pattern: string | undefined): (type: string) => boolean {
  if (!pattern || pattern.trim() === '') return () => true;
  const res = pattern
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i'));
  return (type) => res.some((r) => r.test(type));
}

/** A plain aligned table: header row, then rows; cells are strings. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}
