/**
 * `rtctl stats` and `rtctl connections`: the cluster from any one --url. Each instance answers for
 * the whole cluster (its `instances` rows, its merged device list), so with several --url the
 * answers overlap: rows are merged by instanceId (and connectionId), the row an instance gives of
 * itself winning because it is live, not announced. An older service without `instances` counts
 * as a cluster of one. --json prints each --url's answer as it came (one line each), cluster data
 * included; what could not be seen (an unreachable instance, the registry down) is also said on
 * stderr, so a pipe sees it and the exit code stays 0 (the view is partial, not wrong).
 */
import { createApi } from './api.js';
import { requireToken, type View } from './admin-views.js';
import type { ConnectionRow, InstanceConnections as InstanceOutcome } from '../../service/src/features/admin/cluster-view.js';
import type { Context } from './context.js';
import { formatBytes, formatDuration, shortId } from './format.js';

export interface InstanceRow {
  instanceId: string;
  url: string | null;
  uptimeS: number;
  totalConnections: number;
  activeUsers: number;
  buffer: { users: number; events: number; bytes: number };
  rssBytes: number | null;
  draining: boolean;
  announcedAt: string | null;
  self: boolean;
}

export interface StatsAnswer {
  instanceId: string;
  uptimeS: number;
  totalConnections: number;
  activeUsers: number;
  buffer: { users: number; events: number; bytes: number };
  memory?: { rssBytes: number };
  instances?: InstanceRow[];
  cluster?: { registryError: string | null };
}

interface ConnectionsAnswer {
  instanceId: string;
  count: number;
  truncated?: boolean;
  connections: ConnectionRow[];
  instances?: InstanceOutcome[];
  registryError?: string | null;
}

const num = (n: number | null | undefined) => (n === null || n === undefined ? '-' : String(n));
const ago = (iso: string | null) => (iso ? formatDuration(Math.max(0, Date.now() - Date.parse(iso))) : '-');
const until = (iso: string | null) => (iso ? formatDuration(Date.parse(iso) - Date.now()) : 'never');

/** The instance rows of several answers, one per instanceId (self rows first), sorted by id. */
export function mergeInstances(answers: readonly StatsAnswer[]): InstanceRow[] {
  const byId = new Map<string, InstanceRow>();
  const own = (s: StatsAnswer): InstanceRow => ({
    instanceId: s.instanceId,
    url: null,
    uptimeS: s.uptimeS,
    totalConnections: s.totalConnections,
    activeUsers: s.activeUsers,
    buffer: s.buffer,
    rssBytes: s.memory?.rssBytes ?? null,
    draining: false,
    announcedAt: null,
    self: true,
  });
  for (const s of answers) {
    const rows: InstanceRow[] = s.instances ?? [own(s)];
    for (const r of rows) {
      const had = byId.get(r.instanceId);
      if (!had || (r.self && !had.self)) byId.set(r.instanceId, r);
    }
  }
  return [...byId.values()].sort((a, b) => a.instanceId.localeCompare(b.instanceId));
}

export async function fetchStats(ctx: Context): Promise<View> {
  const token = requireToken(ctx);
  const all = await Promise.all(ctx.urls.map((baseUrl) => createApi({ baseUrl, token }).getJson<StatsAnswer>('/api/websocket/stats')));
  const rows = mergeInstances(all);
  const warnings = all.flatMap((s, i) =>
    s.cluster?.registryError ? [`${ctx.urls[i]}: instance registry unavailable (${s.cluster.registryError}): only ${s.instanceId} is shown from there`] : [],
  );
  const line = (r: InstanceRow) => [
    r.instanceId,
    formatDuration(r.uptimeS * 1000),
    num(r.totalConnections),
    num(r.activeUsers),
    num(r.buffer?.users),
    num(r.buffer?.events),
    formatBytes(r.buffer?.bytes ?? 0),
    r.rssBytes === null ? '-' : formatBytes(r.rssBytes),
    r.draining ? 'draining' : 'up',
    r.self ? 'now' : ago(r.announcedAt),
  ];
  const sum = (f: (r: InstanceRow) => number) => rows.reduce((n, r) => n + f(r), 0);
  const total =
    rows.length > 1
      ? [[
          `TOTAL (${rows.length} instances)`,
          '',
          String(sum((r) => r.totalConnections)),
          `${sum((r) => r.activeUsers)}*`,
          String(sum((r) => r.buffer.users)),
          String(sum((r) => r.buffer.events)),
          formatBytes(sum((r) => r.buffer.bytes)),
          formatBytes(sum((r) => r.rssBytes ?? 0)),
          '',
          '',
        ]]
      : [];
  return {
    json: all,
    warnings,
    tables: [
      {
        headers: ['INSTANCE', 'UPTIME', 'CONNECTIONS', 'USERS', 'BUFFERED USERS', 'BUFFERED EVENTS', 'BUFFER', 'RSS', 'STATE', 'SEEN'],
        rows: [...rows.map(line), ...total],
        ...(total.length ? { footer: '* a user with devices on several instances is counted on each' } : {}),
      },
    ],
  };
}

export async function fetchConnections(ctx: Context, userId: string | undefined, limit?: number): Promise<View> {
  const token = requireToken(ctx);
  const params = new URLSearchParams();
  if (userId !== undefined) params.set('userId', userId);
  if (limit !== undefined) params.set('limit', String(limit));
  const q = params.size ? `?${params}` : '';
  const all = await Promise.all(
    ctx.urls.map((baseUrl) => createApi({ baseUrl, token }).getJson<ConnectionsAnswer>(`/api/admin/connections${q}`)),
  );

  // Devices: one row per (instance, connection), whichever --url reported it.
  const devices = new Map<string, ConnectionRow>();
  for (const a of all) for (const c of a.connections) devices.set(`${c.instanceId}\u0000${c.connectionId}`, c);
  // Outcomes: an instance is ok if any --url reached it.
  const outcomes = new Map<string, InstanceOutcome>();
  for (const a of all) {
    const list: InstanceOutcome[] = a.instances ?? [{ instanceId: a.instanceId, url: null, status: 'ok', count: a.count, truncated: Boolean(a.truncated) }];
    for (const o of list) {
      const had = outcomes.get(o.instanceId);
      if (!had || (had.status !== 'ok' && o.status === 'ok')) outcomes.set(o.instanceId, o);
    }
  }
  const instances = [...outcomes.values()].sort((a, b) => a.instanceId.localeCompare(b.instanceId));
  const rows = [...devices.values()].sort((a, b) => a.instanceId.localeCompare(b.instanceId) || a.connectedAt.localeCompare(b.connectedAt));
  const warnings = [
    ...instances.filter((o) => o.status !== 'ok').map((o) => `${o.instanceId} ${o.status}${o.error ? ` (${o.error})` : ''}: its devices are not listed`),
    ...instances.filter((o) => o.truncated).map((o) => `${o.instanceId}: ${o.count} device(s), only the first ones listed (use --user or --limit)`),
    ...all.flatMap((a, i) => (a.registryError ? [`${ctx.urls[i]}: instance registry unavailable (${a.registryError}): only ${a.instanceId} was asked`] : [])),
  ];
  const totalCount = instances.reduce((n, o) => n + o.count, 0);
  return {
    json: all,
    warnings,
    tables: [
      {
        headers: ['INSTANCE', 'USER', 'DEVICE', 'CONNECTION', 'CONNECTED', 'SENT SEQ', 'SEND BUFFER', 'TOKEN EXPIRES IN', 'REMOTE'],
        rows: rows.map((r) => [
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
      },
      {
        headers: ['INSTANCE', 'STATUS', 'DEVICES'],
        rows: [
          ...instances.map((o) => [o.instanceId, o.status === 'ok' ? 'ok' : `${o.status}${o.error ? `: ${o.error}` : ''}`, o.truncated ? `${o.count} (truncated)` : String(o.count)]),
          ...(instances.length > 1 ? [[`TOTAL (${instances.length} instances)`, '', String(totalCount)]] : []),
        ],
      },
    ],
  };
}
