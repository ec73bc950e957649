/**
 * Prometheus metrics of one service instance, on a registry of its own (two instances in one test
 * process must not share counters). Names follow Prometheus conventions; dashboards/ queries them.
 */
import client from 'prom-client';

export const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5];

export function createMetrics(opts: { instanceId: string; collectDefault?: boolean }) {
  const registry = new client.Registry();
  registry.setDefaultLabels({ instance_id: opts.instanceId });
  if (opts.collectDefault !== false) client.collectDefaultMetrics({ register: registry });

  const m = {
    registry,
    wsConnections: new client.Gauge({ name: 'rt_ws_connections', help: 'Open realtime WebSocket connections', registers: [registry] }),
    wsUsers: new client.Gauge({ name: 'rt_ws_users', help: 'Users with at least one device connected to this instance', registers: [registry] }),
    wsOpened: new client.Counter({ name: 'rt_ws_connections_opened_total', help: 'WebSocket connections accepted', registers: [registry] }),
    wsClosed: new client.Counter({
      name: 'rt_ws_connections_closed_total',
      help: 'WebSocket connections closed, by close code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    wsRejected: new client.Counter({
      name: 'rt_ws_upgrades_rejected_total',
      help: 'Upgrade requests refused before the handshake, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    eventsPublished: new client.Counter({
      name: 'rt_events_published_total',
      help: 'Events published to the bus after commit, by type',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    publishFailures: new client.Counter({ name: 'rt_publish_failures_total', help: 'Publishes to the bus that failed', registers: [registry] }),
    eventsDelivered: new client.Counter({
      name: 'rt_events_delivered_total',
      help: 'Event frames sent to sockets (live), by type',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    deliveryLatency: new client.Histogram({
      name: 'rt_event_delivery_latency_seconds',
      help: 'From commit to the frame handed to the sockets of this instance, live events',
      labelNames: ['type'] as const,
      buckets: LATENCY_BUCKETS_S,
      registers: [registry],
    }),
    transientDropped: new client.Counter({
      name: 'rt_transient_events_dropped_total',
      help: 'Transient events not sent because the socket was under pressure',
      registers: [registry],
    }),
    gapFills: new client.Counter({
      name: 'rt_gap_fills_total',
      help: 'Sequence gaps on the bus filled from the event log',
      registers: [registry],
    }),
    replays: new client.Counter({
      name: 'rt_replays_total',
      help: 'Resumes served with missed events, by source',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    replayedEvents: new client.Counter({
      name: 'rt_replayed_events_total',
      help: 'Events sent as replay, by source',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    resyncs: new client.Counter({
      name: 'rt_resyncs_total',
      help: 'RESYNC_REQUIRED sent, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    slowConsumerCloses: new client.Counter({
      name: 'rt_slow_consumer_closes_total',
      help: 'Sockets closed with 4429 because their send buffer went over the limit',
      registers: [registry],
    }),
    heartbeatTimeouts: new client.Counter({
      name: 'rt_heartbeat_timeouts_total',
      help: 'Sockets closed with 4408 for missing a heartbeat pong',
      registers: [registry],
    }),
    heartbeatLateRounds: new client.Counter({
      name: 'rt_heartbeat_late_rounds_total',
      help: 'Heartbeat rounds that came over half an interval late (the event loop was blocked) and closed no socket',
      registers: [registry],
    }),
    badFrames: new client.Counter({ name: 'rt_bad_client_frames_total', help: 'Client frames refused', registers: [registry] }),
    authFailures: new client.Counter({
      name: 'rt_auth_failures_total',
      help: 'Bearer tokens refused, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    httpDuration: new client.Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration, by method, route and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    bufferUsers: new client.Gauge({ name: 'rt_buffer_users', help: 'Users with a ring buffer on this instance', registers: [registry] }),
    bufferEvents: new client.Gauge({ name: 'rt_buffer_events', help: 'Events held in ring buffers', registers: [registry] }),
    bufferBytes: new client.Gauge({ name: 'rt_buffer_bytes', help: 'Bytes of frames held in ring buffers', registers: [registry] }),
    jobs: new client.Counter({
      name: 'rt_jobs_total',
      help: 'Jobs finished, by name and outcome (completed, failed, retried)',
      labelNames: ['name', 'outcome'] as const,
      registers: [registry],
    }),
    jobQueueDepth: new client.Gauge({
      name: 'rt_job_queue_depth',
      help: 'Jobs in the queue, by state',
      labelNames: ['state'] as const,
      registers: [registry],
    }),
    rateLimited: new client.Counter({
      name: 'rt_rate_limited_total',
      help: 'Requests refused with 429 by the abuse limits, by kind (write, upgrade) and scope (user, ip)',
      labelNames: ['kind', 'scope'] as const,
      registers: [registry],
    }),
    ready: new client.Gauge({ name: 'rt_ready', help: '1 while the instance accepts traffic, 0 while starting or draining', registers: [registry] }),
  };
  // Known label values start at 0, so increase() sees the first event of each (a counter that
  // appears at 1 has no earlier sample to compare with).
  for (const outcome of ['completed', 'failed', 'retried']) m.jobs.inc({ name: 'submit-order', outcome }, 0);
  for (const reason of ['evicted', 'epoch_changed', 'ahead']) m.resyncs.inc({ reason }, 0);
  for (const kind of ['write', 'upgrade']) for (const scope of ['user', 'ip']) m.rateLimited.inc({ kind, scope }, 0);
  for (const source of ['buffer', 'log']) {
    m.replays.inc({ source }, 0);
    m.replayedEvents.inc({ source }, 0);
  }
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
