/**
 * What the admin commands show: each asks every --url and makes a View, the raw JSON objects (one
 * line each with --json) and the tables made from them. `rtctl buffer` is here (ring buffers are
 * per instance); `rtctl stats` and `rtctl connections` see the whole cluster (cluster-views.ts).
 * An admin token is required (403 otherwise, exit 4). admin-output.tsx decides how a View is shown.
 */
import { createApi } from './api.js';
import type { Context } from './context.js';
import { CliError, ExitCode, usageError } from './errors.js';
import { formatBytes, formatDuration, formatTable, summarizePayload } from './format.js';

export interface TableSpec {
  title?: string;
  headers: string[];
  rows: string[][];
  /** A note under the table (e.g. what a total means). */
  footer?: string;
}

/** What one admin view shows: raw JSON objects (one line each) and the tables made from them. */
export interface View {
  json: unknown[];
  tables: TableSpec[];
  /** What the view could not show (an instance unreachable...): on stderr, so pipes see it too. */
  warnings?: string[];
}

interface BufferSummary {
  userId: string;
  epoch: string;
  connections: number;
  deliveredSeq: number;
  events: number;
  bytes: number;
  firstSeq: number | null;
  lastSeq: number | null;
  pendingOutOfOrder: number;
}

/** GET /api/admin/buffers/:userId: the summary, with `events` the buffered events themselves. */
type BufferDetail = Omit<BufferSummary, 'events'> & { instanceId: string; events: BufferEvent[] };

interface BufferEvent {
  seq: number;
  type: string;
  timestamp: string;
  originDeviceId: string | null;
  bytes: number;
  payload: unknown;
}

export function requireToken(ctx: Context): string {
  if (!ctx.token) {
    throw usageError('This admin view needs an admin token: pass --token or set RT_TOKEN (mint one: rtctl token --user <id> --admin)');
  }
  return ctx.token;
}

const num = (n: number | null | undefined) => (n === null || n === undefined ? '-' : String(n));
const ago = (iso: string | null) => (iso ? formatDuration(Date.now() - Date.parse(iso)) : '-');

export async function fetchBuffers(ctx: Context, userId: string | undefined): Promise<View> {
  const token = requireToken(ctx);
  if (userId === undefined) {
    const all = await Promise.all(
      ctx.urls.map((baseUrl) => createApi({ baseUrl, token }).getJson<{ instanceId: string; users: BufferSummary[] }>('/api/admin/buffers')),
    );
    return {
      json: all,
      tables: [
        {
          headers: ['INSTANCE', 'USER', 'CONNECTIONS', 'DELIVERED SEQ', 'EVENTS', 'SEQ RANGE', 'BYTES', 'OUT OF ORDER'],
          rows: all.flatMap((b) =>
            b.users.map((u) => [
              b.instanceId,
              u.userId,
              num(u.connections),
              num(u.deliveredSeq),
              num(u.events),
              u.firstSeq === null ? '-' : `${u.firstSeq}-${num(u.lastSeq)}`,
              formatBytes(u.bytes),
              num(u.pendingOutOfOrder),
            ]),
          ),
        },
      ],
    };
  }
  const path = `/api/admin/buffers/${encodeURIComponent(userId)}`;
  const found: BufferDetail[] = [];
  for (const baseUrl of ctx.urls) {
    try {
      found.push(await createApi({ baseUrl, token }).getJson(path));
    } catch (err) {
      if (err instanceof CliError && / answered 404/.test(err.message)) continue; // not on this instance
      throw err;
    }
  }
  if (found.length === 0) {
    throw new CliError(`No ring buffer for user ${userId} on ${ctx.urls.join(', ')}: the user has no device connected there and none recently`, ExitCode.FAILURE);
  }
  return {
    json: found,
    tables: found.flatMap((b) => [
      {
        title: `${b.instanceId}  user ${b.userId}  epoch ${b.epoch}  delivered seq ${b.deliveredSeq}  ${b.events.length} event(s), ${formatBytes(b.bytes)}  ${b.connections} connection(s)`,
        headers: ['SEQ', 'TYPE', 'AGE', 'ORIGIN', 'BYTES', 'PAYLOAD'],
        rows: b.events.map((e) => [
          String(e.seq),
          e.type,
          ago(e.timestamp),
          e.originDeviceId ?? '-',
          String(e.bytes),
          summarizePayload(e.type, e.payload, 60),
        ]),
      },
    ]),
  };
}

/** A View as plain tables, or NDJSON with --json. */
export function printView(ctx: Context, view: View): void {
  printWarnings(ctx, view);
  if (ctx.json) {
    for (const o of view.json) ctx.out(JSON.stringify(o));
    return;
  }
  const text = view.tables.map(
    (t) => (t.title ? `${t.title}\n` : '') + formatTable(t.headers, t.rows) + (t.rows.length === 0 ? '\n(none)' : '') + (t.footer ? `\n${t.footer}` : ''),
  );
  ctx.out(text.join('\n\n'));
}

export function printWarnings(ctx: Context, view: View): void {
  for (const w of view.warnings ?? []) ctx.err(`rtctl: warning: ${w}`);
}
