/**
 * What the admin commands show (`rtctl stats`, `rtctl buffer`, `rtctl connections`): each asks
 * every --url (one instance each) and makes a View, the raw JSON objects (one line each with
 * --json) and the tables made from them. An admin token is required (403 otherwise, exit 4).
 * admin-output.tsx decides how a View is shown.
 */
import { createApi } from './api.js';
import type { Context } from './context.js';
import { CliError, ExitCode, usageError } from './errors.js';
import { formatBytes, formatDuration, formatTable, shortId, summarizePayload } from './format.js';

export interface TableSpec {
  title?: string;
  headers: string[];
  rows: string[][];
}

/** What one admin view shows: raw JSON objects (one line each) and the tables made from them. */
export interface View {
  json: unknown[];
  tables: TableSpec[];
}

interface Stats {
  instanceId: string;
  uptimeS: number;
  totalConnections: number;
  activeUsers: number;
  buffer: { users: number; events: number; bytes: number };
  memory?: { rssBytes: number };
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

interface ConnectionRow {
  connectionId: string;
  userId: string;
  deviceId: string;
  instanceId: string;
  connectedAt: string;
  sentSeq: number;
  bufferedBytes: number;
  tokenExpiresAt: string | null;
  remoteAddress: string | null;
}

function requireToken(ctx: Context): string {
  if (!ctx.token) {
    throw usageError('This admin view needs an admin token: pass --token or set RT_TOKEN (mint one: rtctl token --user <id> --admin)');
  }
  return ctx.token;
}

const num = (n: number | null | undefined) => (n === null || n === undefined ? '-' : String(n));
const ago = (iso: string | null) => (iso ? formatDuration(Date.now() - Date.parse(iso)) : '-');
const until = (iso: string | null) => (iso ? formatDuration(Date.parse(iso) - Date.now()) : 'never');

export async function fetchStats(ctx: Context): Promise<View> {
  const token = requireToken(ctx);
  const all = await Promise.all(ctx.urls.map((baseUrl) => createApi({ baseUrl, token }).getJson<Stats>('/api/websocket/stats')));
  return {
    json: all,
    tables: [
      {
        headers: ['INSTANCE', 'UPTIME', 'CONNECTIONS', 'USERS', 'BUFFERED USERS', 'BUFFERED EVENTS', 'BUFFER', 'RSS'],
        rows: all.map((s) => [
          s.instanceId,
          formatDuration(s.uptimeS * 1000),
          num(s.totalConnections),
          num(s.activeUsers),
          num(s.buffer?.users),
          num(s.buffer?.events),
          formatBytes(s.buffer?.bytes ?? 0),
          s.memory ? formatBytes(s.memory.rssBytes) : '-',
        ]),
      },
    ],
  };
}

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

export async function fetchConnections(ctx: Context, userId: string | undefined): Promise<View> {
  const token = requireToken(ctx);
  const q = userId === undefined ? '' : `?userId=${encodeURIComponent(userId)}`;
  const all = await Promise.all(
    ctx.urls.map((baseUrl) =>
      createApi({ baseUrl, token }).getJson<{ instanceId: string; count: number; connections: ConnectionRow[] }>(`/api/admin/connections${q}`),
    ),
  );
  return {
    json: all,
    tables: [
      {
        headers: ['INSTANCE', 'USER', 'DEVICE', 'CONNECTION', 'CONNECTED', 'SENT SEQ', 'SEND BUFFER', 'TOKEN EXPIRES IN', 'REMOTE'],
        rows: all.flatMap((c) =>
          c.connections.map((r) => [
            r.instanceId,
            r.userId,
            r.deviceId,
            shortId(r.connectionId),
            ago(r.connectedAt),
            num(r.sentSeq),
            formatBytes(r.bufferedBytes),
            until(r.tokenExpiresAt),
            r.remoteAddress ?? '-',
          ]),
        ),
      },
    ],
  };
}

/** A View as plain tables, or NDJSON with --json. */
export function printView(ctx: Context, view: View): void {
  if (ctx.json) {
    for (const o of view.json) ctx.out(JSON.stringify(o));
    return;
  }
  const text = view.tables.map((t) => (t.title ? `${t.title}\n` : '') + formatTable(t.headers, t.rows) + (t.rows.length === 0 ? '\n(none)' : ''));
  ctx.out(text.join('\n\n'));
}
