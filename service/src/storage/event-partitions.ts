/**
 * The event log's daily partitions (migration 6, migration-partitioned-events.ts): created ahead and
 * dropped past the retention by server-side functions, each one statement (one round trip, its own
 * transaction on PostgreSQL), serialized across instances by an advisory lock.
 */
import type { SqlQuery } from './sql-runner.js';

export { EVENT_PARTITION_DAYS_AHEAD } from './migration-partitioned-events.js';

export interface DroppedPartitions {
  /** Partitions dropped. */
  partitions: number;
  /** Their rows (from the planner's statistics: an estimate once autovacuum analyzed them). */
  events: number;
  /** 1 when a partition's lock was not granted in time: it and every newer one wait for the next run. */
  skipped: number;
}

const json = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);

/** Daily partitions through the end of `now`'s UTC day plus `daysAhead` days. Returns how many were created. */
export async function ensureEventPartitions(q: SqlQuery, now: Date, daysAhead: number): Promise<number> {
  const rows = await q.query<{ n: number }>('SELECT rt_event_partitions_ensure($1::timestamptz, $2::integer) AS n', [
    now.toISOString(),
    daysAhead,
  ]);
  return Number(rows[0]!.n);
}

/** Drop the partitions wholly older than `olderThan` (and the default partition's rows older than it). */
export async function dropEventPartitions(q: SqlQuery, olderThan: Date): Promise<DroppedPartitions> {
  const rows = await q.query<{ r: unknown }>('SELECT rt_event_partitions_drop($1::timestamptz) AS r', [olderThan.toISOString()]);
  const r = json(rows[0]!.r) as DroppedPartitions;
  return { partitions: Number(r.partitions), events: Number(r.events), skipped: Number(r.skipped) };
}
