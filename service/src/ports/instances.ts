/**
 * The instance registry: every service instance announces a small summary of itself every few
 * seconds with a TTL, and any instance can list the live ones (the cluster-wide admin views:
 * GET /api/websocket/stats `instances`, GET /api/admin/connections). Adapters: in memory
 * (embedded: this process only) and Redis (every instance on the same Redis or Redis Cluster).
 *
 * Contract: an instance that stops announcing (kill -9, network split) drops out of `list()` within
 * `ttlMs` of its last announcement, with no help from it; one that shuts down gracefully withdraws
 * at once. A summary is at most one announcement interval old: it is a view for operators, not a
 * source of truth (the hub's own counters are).
 */

/** What one instance says about itself. Small and bounded: no per-device data here. */
export interface InstanceSummary {
  instanceId: string;
  /**
   * Where the other instances reach this one's admin routes (ADVERTISE_URL, else derived from the
   * listen address); null when it does not listen (a separate job worker).
   */
  url: string | null;
  /** ISO-8601. */
  startedAt: string;
  uptimeS: number;
  totalConnections: number;
  activeUsers: number;
  buffer: { users: number; events: number; bytes: number };
  rssBytes: number;
  /** Shutting down: its devices are being moved elsewhere (1012). */
  draining: boolean;
  /** ISO-8601, the announcer's clock. */
  announcedAt: string;
}

export interface InstanceRegistry {
  /** Publish (or refresh) this summary for the registry's TTL. */
  announce(summary: InstanceSummary): Promise<void>;
  /** The live instances, in no particular order (callers sort). */
  list(): Promise<InstanceSummary[]>;
  /** Remove an instance at once (graceful shutdown), instead of waiting for its TTL. */
  withdraw(instanceId: string): Promise<void>;
  close(): Promise<void>;
}
