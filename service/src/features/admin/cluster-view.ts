/**
 * The cluster-wide admin views, answered by any one instance.
 *
 * Instances (stats): read from the instance registry, where each instance announces a small,
 * bounded summary every few seconds; this instance's own row is computed live.
 *
 * Devices (connections): fanned out over HTTP, at request time, to each live instance's announced
 * URL (`?scope=local`), with the caller's admin token and a short timeout, and merged. Chosen over
 * publishing every instance's device list into Redis because that list is large (≈19,000 devices,
 * some MB of JSON per instance) and would be written every few seconds for nobody, and be stale
 * and truncated when someone does look; the fan-out costs nothing until an operator asks, is
 * exact, and filters (`userId`) where the devices are. An instance that does not answer is listed
 * as `unreachable`, never a 500; one that died drops out of the registry within its TTL and is no
 * longer asked. The token goes only to URLs read from the registry, which is as trusted as the
 * Redis every instance already shares.
 */
import type { Hub } from '../../realtime/hub.js';
import type { InstanceRegistry, InstanceSummary } from '../../ports/instances.js';
import { withTimeout } from './announcer.js';

export interface ConnectionRow {
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

export interface LocalConnections {
  instanceId: string;
  /** Devices that match (all of them, even past `limit`). */
  count: number;
  connections: ConnectionRow[];
  truncated: boolean;
}

export interface InstanceConnections {
  instanceId: string;
  url: string | null;
  status: 'ok' | 'unreachable' | 'error';
  count: number;
  truncated: boolean;
  error?: string;
}

/** This instance's devices, at most `limit` of them (oldest first), with the full count. */
export function localConnections(hub: Hub, instanceId: string, q: { userId?: string; limit: number }): LocalConnections {
  const matching = hub.allConnections().filter((c) => !c.closed && (q.userId === undefined || c.userId === q.userId));
  const connections = matching.slice(0, q.limit).map((c) => ({
    connectionId: c.id,
    userId: c.userId,
    deviceId: c.deviceId,
    instanceId,
    connectedAt: c.connectedAt.toISOString(),
    sentSeq: c.sentSeq,
    bufferedBytes: c.ws.bufferedAmount,
    tokenExpiresAt: c.expiresAtMs === null ? null : new Date(c.expiresAtMs).toISOString(),
    remoteAddress: c.remoteAddress,
  }));
  return { instanceId, count: matching.length, connections, truncated: connections.length < matching.length };
}

/** What this instance announces (and shows as its own row): the hub's counters, now. */
export function instanceSummary(deps: { hub: Hub; instanceId: string; startedAt: number; url: string | null; draining: boolean }): InstanceSummary {
  const s = deps.hub.stats();
  const now = Date.now();
  return {
    instanceId: deps.instanceId,
    url: deps.url,
    startedAt: new Date(deps.startedAt).toISOString(),
    uptimeS: Math.round((now - deps.startedAt) / 1000),
    totalConnections: s.totalConnections,
    activeUsers: s.activeUsers,
    buffer: s.buffer,
    rssBytes: process.memoryUsage().rss,
    draining: deps.draining,
    announcedAt: new Date(now).toISOString(),
  };
}

/** Where the other instances reach one listening on host:port when ADVERTISE_URL is unset. */
export function derivedAdvertiseUrl(host: string, port: number, machine: string): string {
  const h = host === '' || host === '0.0.0.0' || host === '::' ? machine : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

export interface ClusterView {
  /** Every live instance, this one first (its row live); `error` when the registry could not be read. */
  instances(): Promise<{ instances: (InstanceSummary & { self: boolean })[]; error: string | null }>;
  /** Devices of every live instance, merged; each instance's outcome in `instances`. */
  connections(q: { userId?: string; limit: number }, authorization: string): Promise<{
    count: number;
    connections: ConnectionRow[];
    truncated: boolean;
    instances: InstanceConnections[];
    registryError: string | null;
  }>;
}

export function createClusterView(deps: {
  registry: InstanceRegistry;
  hub: Hub;
  instanceId: string;
  /** This instance's summary, computed now. */
  self: () => InstanceSummary;
  timeoutMs: number;
  fetch?: typeof fetch;
}): ClusterView {
  const { registry, hub, instanceId, timeoutMs } = deps;
  const doFetch = deps.fetch ?? fetch;

  async function instances() {
    const self = { ...deps.self(), self: true };
    let others: InstanceSummary[] = [];
    let error: string | null = null;
    try {
      others = (await withTimeout(registry.list(), timeoutMs, 'instance registry')).filter((i) => i.instanceId !== instanceId);
    } catch (err) {
      error = (err as Error).message;
    }
    others.sort((a, b) => a.instanceId.localeCompare(b.instanceId));
    return { instances: [self, ...others.map((i) => ({ ...i, self: false }))], error };
  }

  async function remote(target: InstanceSummary, q: { userId?: string; limit: number }, authorization: string) {
    const base: Omit<InstanceConnections, 'status' | 'count' | 'truncated'> = { instanceId: target.instanceId, url: target.url };
    if (!target.url) return { outcome: { ...base, status: 'unreachable', count: 0, truncated: false, error: 'announced no URL' } as const, rows: [] };
    const params = new URLSearchParams({ scope: 'local', limit: String(q.limit) });
    if (q.userId !== undefined) params.set('userId', q.userId);
    try {
      const res = await doFetch(`${target.url}/api/admin/connections?${params}`, {
        headers: { authorization, accept: 'application/json' },
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!res.ok) {
        await res.body?.cancel();
        return { outcome: { ...base, status: 'error', count: 0, truncated: false, error: `HTTP ${res.status}` } as const, rows: [] };
      }
      const body = (await res.json()) as Partial<LocalConnections>;
      if (body.instanceId !== target.instanceId || !Array.isArray(body.connections)) {
        // ADVERTISE_URL points at another instance (or not at this service): do not mislabel its devices.
        const error = `answered as ${String(body.instanceId)}: check its ADVERTISE_URL`;
        return { outcome: { ...base, status: 'error', count: 0, truncated: false, error } as const, rows: [] };
      }
      const rows = body.connections.map((c) => ({ ...c, instanceId: target.instanceId }));
      return { outcome: { ...base, status: 'ok', count: body.count ?? rows.length, truncated: Boolean(body.truncated) } as const, rows };
    } catch (err) {
      const e = err as Error;
      const error = e.name === 'TimeoutError' ? `no answer in ${timeoutMs} ms` : ((e.cause as Error | undefined)?.message ?? e.message);
      return { outcome: { ...base, status: 'unreachable', count: 0, truncated: false, error } as const, rows: [] };
    }
  }

  return {
    instances,
    async connections(q, authorization) {
      const { instances: live, error } = await instances();
      const parts = await Promise.all(
        live.map((i) => {
          if (!i.self) return remote(i, q, authorization);
          const local = localConnections(hub, instanceId, q);
          const outcome: InstanceConnections = { instanceId, url: i.url, status: 'ok', count: local.count, truncated: local.truncated };
          return Promise.resolve({ outcome, rows: local.connections });
        }),
      );
      const outcomes = parts.map((p) => p.outcome);
      return {
        count: outcomes.reduce((n, o) => n + o.count, 0),
        connections: parts.flatMap((p) => p.rows),
        truncated: outcomes.some((o) => o.truncated),
        instances: outcomes,
        registryError: error,
      };
    },
  };
}
