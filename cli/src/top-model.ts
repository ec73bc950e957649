/**
 * The numbers `rtctl top` shows, computed from successive /metrics scrapes of one instance.
 * Pure: scrapes in, view out (the Ink component and the NDJSON output both render it).
 */
import { bucketDelta, byLabel, histogramBuckets, histogramQuantile, sum, type Sample } from './prometheus.js';

export interface Scrape {
  /** Wall-clock ms of the scrape. */
  at: number;
  samples: Sample[];
}

export interface TypeRate {
  type: string;
  /** Events/s published to the bus (rt_events_published_total) over the last interval. */
  published: number;
  /** Frames/s handed to sockets (rt_events_delivered_total). */
  delivered: number;
  /** Published events/s per interval, oldest first, for the sparkline. */
  history: number[];
}

export interface InstanceView {
  url: string;
  instanceId: string | null;
  ready: boolean | null;
  connections: number | null;
  users: number | null;
  buffer: { users: number | null; events: number | null; bytes: number | null };
  rates: TypeRate[];
  totalPublished: number;
  totalDelivered: number;
  /** Delivery latency quantiles in seconds (commit → frame handed to sockets), null without data. */
  p50: number | null;
  p99: number | null;
  /** Observations the quantiles are computed over, and over which window. */
  latencyCount: number;
  latencyWindow: 'window' | 'since start';
  error: string | null;
  /** Given by --url, or found in the cluster's instance list (rtctl top with an admin token). */
  via?: 'url' | 'cluster';
}

/** The cluster's sums over its instances' views (what is unknown counts as 0). */
export interface ClusterTotals {
  instances: number;
  /** Instances whose figures are incomplete (metrics not scraped this round). */
  withErrors: number;
  connections: number;
  /** Sum over instances: a user with devices on two instances counts twice. */
  users: number;
  bufferEvents: number;
  bufferBytes: number;
  published: number;
  delivered: number;
}

export function clusterTotals(views: readonly InstanceView[]): ClusterTotals {
  const sumOf = (f: (v: InstanceView) => number | null) => views.reduce((n, v) => n + (f(v) ?? 0), 0);
  return {
    instances: views.length,
    withErrors: views.filter((v) => v.error !== null).length,
    connections: sumOf((v) => v.connections),
    users: sumOf((v) => v.users),
    bufferEvents: sumOf((v) => v.buffer.events),
    bufferBytes: sumOf((v) => v.buffer.bytes),
    published: sumOf((v) => v.totalPublished),
    delivered: sumOf((v) => v.totalDelivered),
  };
}

export const LATENCY_METRIC = 'rt_event_delivery_latency_seconds';
export const HISTORY_POINTS = 30;

function rateMap(later: Scrape, earlier: Scrape, metric: string): Map<string, number> {
  const dt = (later.at - earlier.at) / 1000;
  const a = byLabel(later.samples, metric, 'type');
  const b = byLabel(earlier.samples, metric, 'type');
  const out = new Map<string, number>();
  for (const [type, v] of a) out.set(type, dt > 0 ? Math.max(0, v - (b.get(type) ?? 0)) / dt : 0);
  return out;
}

/**
 * `history` is this instance's scrapes, oldest first. Rates need two scrapes; latency quantiles use
 * the observations inside `windowMs` when there are any, else everything since the start.
 */
export function computeInstanceView(url: string, history: readonly Scrape[], error: string | null = null, windowMs = 30_000): InstanceView {
  const last = history[history.length - 1];
  const empty: InstanceView = {
    url,
    instanceId: null,
    ready: null,
    connections: null,
    users: null,
    buffer: { users: null, events: null, bytes: null },
    rates: [],
    totalPublished: 0,
    totalDelivered: 0,
    p50: null,
    p99: null,
    latencyCount: 0,
    latencyWindow: 'since start',
    error,
  };
  if (!last) return empty;
  const s = last.samples;
  const instanceId = s.find((x) => x.labels.instance_id)?.labels.instance_id ?? null;
  const ready = sum(s, 'rt_ready');

  const types = new Set([...byLabel(s, 'rt_events_published_total', 'type').keys(), ...byLabel(s, 'rt_events_delivered_total', 'type').keys()]);
  const rates: TypeRate[] = [];
  const pairs = history.slice(-(HISTORY_POINTS + 1));
  const perPair = pairs.slice(1).map((later, i) => ({
    published: rateMap(later, pairs[i]!, 'rt_events_published_total'),
    delivered: rateMap(later, pairs[i]!, 'rt_events_delivered_total'),
  }));
  const current = perPair[perPair.length - 1];
  for (const type of [...types].sort()) {
    rates.push({
      type,
      published: current?.published.get(type) ?? 0,
      delivered: current?.delivered.get(type) ?? 0,
      history: perPair.map((p) => p.published.get(type) ?? 0),
    });
  }

  const nowBuckets = histogramBuckets(s, LATENCY_METRIC);
  const start = history.find((h) => h.at >= last.at - windowMs && h !== last);
  let buckets = nowBuckets;
  let latencyWindow: InstanceView['latencyWindow'] = 'since start';
  if (start) {
    const delta = bucketDelta(nowBuckets, histogramBuckets(start.samples, LATENCY_METRIC));
    if ((delta[delta.length - 1]?.count ?? 0) > 0) {
      buckets = delta;
      latencyWindow = 'window';
    }
  }
  return {
    ...empty,
    instanceId,
    ready: ready === null ? null : ready > 0,
    connections: sum(s, 'rt_ws_connections'),
    users: sum(s, 'rt_ws_users'),
    buffer: { users: sum(s, 'rt_buffer_users'), events: sum(s, 'rt_buffer_events'), bytes: sum(s, 'rt_buffer_bytes') },
    rates,
    totalPublished: rates.reduce((a, r) => a + r.published, 0),
    totalDelivered: rates.reduce((a, r) => a + r.delivered, 0),
    p50: histogramQuantile(0.5, buckets),
    p99: histogramQuantile(0.99, buckets),
    latencyCount: buckets[buckets.length - 1]?.count ?? 0,
    latencyWindow,
  };
}

const BARS = '▁▂▃▄▅▆▇█';

/** ▁▃▅█ scaled to the series' maximum; a flat zero series is all ▁. */
export function sparkline(values: readonly number[], width = HISTORY_POINTS): string {
  const v = values.slice(-width);
  const max = Math.max(0, ...v);
  return v.map((x) => (max <= 0 ? BARS[0] : BARS[Math.min(BARS.length - 1, Math.round((x / max) * (BARS.length - 1)))])).join('');
}

export function formatSeconds(s: number | null): string {
  if (s === null) return '-';
  if (s < 1) return `${(s * 1000).toFixed(s < 0.01 ? 2 : 1)}ms`;
  return `${s.toFixed(2)}s`;
}
