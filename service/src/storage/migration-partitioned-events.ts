/**
 * Migration 6: `events` becomes a table range-partitioned by `created_at`, one partition per UTC
 * day, so retention drops whole partitions (a catalog change and a file unlink, a few hundred bytes
 * of WAL) instead of DELETEing a day of rows (WAL for every row, dead tuples for VACUUM to reclaim,
 * index bloat). PGlite runs the same SQL.
 *
 * The conversion is in place, and rewrites nothing:
 * - the old table is renamed `events_legacy` and attached as the partition FROM (MINVALUE) TO (B),
 *   B being the UTC midnight after both now and its newest row. Its rows, its heap and its primary
 *   key index stay as they are. A validated CHECK (created_at < B) proves the partition constraint,
 *   so ATTACH does not scan it; validating the CHECK is the one sequential scan of the migration (no
 *   sort, no index build, no row written). It runs under the rename's lock: writes wait for it
 *   (seconds per 10^7 rows, docs/event-log.md), reads of the old table too.
 * - `events_default` takes any row no partition covers (a write dated past the last partition: the
 *   maintenance job did not run for longer than its margin). A write never fails for want of a
 *   partition; the next maintenance run moves those rows into the partitions it creates.
 * - daily partitions from B on, created ahead by the maintenance job (rt_event_partitions_ensure)
 *   and dropped past the retention (rt_event_partitions_drop).
 *
 * Keys: a unique index of a partitioned table must include the partition key, and (user_id, seq,
 * created_at) would make the old table's primary key useless (an index build of the whole log).
 * So the parent has no index of its own; every partition has PRIMARY KEY (user_id, seq): the index
 * replay reads use (WHERE user_id = $1 AND seq > $2 ORDER BY seq: a merge of one index probe per
 * partition), unique per partition. Across partitions seq is unique because the write functions
 * take it from user_logs.last_seq under the user's row lock, as before; nothing ever relied on the
 * index to reject a duplicate. A partition created by hand must get that key too (the functions
 * below do).
 *
 * Locks: a partition is attached with SHARE UPDATE EXCLUSIVE on `events` (writes and reads go on)
 * but ACCESS EXCLUSIVE on the default partition, and dropped with ACCESS EXCLUSIVE on `events`;
 * both wait at most `p_lock_timeout` (else the run gives up and the next one retries), so a long
 * reader never queues every write behind the maintenance job.
 *
 * `events_created_at_idx` goes: what needs time now prunes partitions (seqAt, the outbox sweep) and
 * retention no longer looks rows up by time.
 */

// Arbitrary constant: the advisory lock key of partition maintenance (one instance at a time).
const PARTITION_LOCK_KEY = 724_311_906;

const CONVERT: readonly string[] = [
  'ALTER TABLE events RENAME TO events_legacy',
  'ALTER TABLE events_legacy RENAME CONSTRAINT events_pkey TO events_legacy_pkey',
  `CREATE TABLE events (
     user_id          text NOT NULL,
     seq              bigint NOT NULL,
     type             text NOT NULL,
     payload          jsonb NOT NULL,
     origin_device_id text,
     created_at       timestamptz NOT NULL
   ) PARTITION BY RANGE (created_at)`,
  'CREATE TABLE events_default PARTITION OF events (PRIMARY KEY (user_id, seq)) DEFAULT',
  `-- B: read from the created_at index (one probe), before it goes.
  DO $$
  DECLARE b timestamptz;
  BEGIN
    SELECT date_trunc('day', greatest(now(), max(created_at)), 'UTC') + interval '24 hours' INTO b FROM events_legacy;
    EXECUTE format('ALTER TABLE events_legacy ADD CONSTRAINT events_legacy_bound CHECK (created_at < %L)', b);
    EXECUTE format('ALTER TABLE events ATTACH PARTITION events_legacy FOR VALUES FROM (MINVALUE) TO (%L)', b);
  END $$`,
  'DROP INDEX events_created_at_idx',
];

const FUNCTIONS: readonly string[] = [
  `-- The range partitions of events with their bounds (lo NULL: MINVALUE), oldest first. The bounds
  -- are read back from the catalog's text form, which this session's settings wrote and parse.
  CREATE FUNCTION rt_event_partitions() RETURNS TABLE (part regclass, lo timestamptz, hi timestamptz)
  LANGUAGE sql STABLE AS $$
    SELECT c.oid::regclass,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']*)''\\)'))[1]::timestamptz,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']*)''\\)'))[1]::timestamptz AS hi
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'events'::regclass AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
    ORDER BY hi
  $$`,

  `-- Create the daily partitions after the last one through the end of p_now's UTC day plus
  -- p_days_ahead days; returns how many. Rows the default partition caught in a new day's range (the
  -- job had not run for longer than its margin) move into it first: the default partition is locked
  -- against writes meanwhile, so none lands there between the move and the ATTACH (which would fail
  -- it). Another instance running it: returns 0 at once.
  CREATE FUNCTION rt_event_partitions_ensure(p_now timestamptz, p_days_ahead integer, p_lock_timeout text DEFAULT '2s')
  RETURNS integer LANGUAGE plpgsql AS $$
  DECLARE
    until_ timestamptz := date_trunc('day', p_now, 'UTC') + (p_days_ahead + 1) * interval '24 hours';
    lo timestamptz; hi timestamptz; part text; created integer := 0;
    saved text := current_setting('lock_timeout');
  BEGIN
    IF NOT pg_try_advisory_xact_lock(${PARTITION_LOCK_KEY}) THEN RETURN 0; END IF;
    SELECT max(p.hi) INTO lo FROM rt_event_partitions() p;
    IF lo IS NULL THEN
      SELECT date_trunc('day', least(min(created_at), p_now), 'UTC') INTO lo FROM events_default;
    END IF;
    IF lo >= until_ THEN RETURN 0; END IF;
    PERFORM set_config('lock_timeout', p_lock_timeout, true);
    LOCK TABLE events_default IN EXCLUSIVE MODE;
    WHILE lo < until_ LOOP
      -- 24 hours, not '1 day': the session's time zone must not move a bound (DST).
      hi := date_trunc('day', lo, 'UTC') + interval '24 hours';
      part := 'events_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD');
      EXECUTE format('CREATE TABLE %I (LIKE events INCLUDING DEFAULTS, PRIMARY KEY (user_id, seq))', part);
      EXECUTE format('INSERT INTO %I SELECT * FROM events_default WHERE created_at >= $1 AND created_at < $2', part) USING lo, hi;
      DELETE FROM events_default WHERE created_at >= lo AND created_at < hi;
      EXECUTE format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
      created := created + 1;
      lo := hi;
    END LOOP;
    PERFORM set_config('lock_timeout', saved, true);
    RETURN created;
  END $$`,

  `-- Retention: drop the partitions wholly older than p_before, oldest first, and delete the default
  -- partition's rows older than it (normally none). Stops at the first partition whose lock is not
  -- granted in p_lock_timeout: dropping a newer one would leave a hole in a user's log, which a
  -- resume by time (seqAt) could not see. Returns { partitions, events, skipped }; events counts the
  -- dropped partitions' rows as the planner's statistics know them (reltuples; counted only when a
  -- partition was never analyzed), before any lock on events is taken, never by reading a big one.
  CREATE FUNCTION rt_event_partitions_drop(p_before timestamptz, p_lock_timeout text DEFAULT '2s')
  RETURNS json LANGUAGE plpgsql AS $$
  DECLARE
    p record; n bigint; parts regclass[] := '{}'; counts bigint[] := '{}';
    dropped integer := 0; skipped integer := 0; rows_ bigint := 0;
    saved text := current_setting('lock_timeout');
  BEGIN
    IF NOT pg_try_advisory_xact_lock(${PARTITION_LOCK_KEY}) THEN
      RETURN json_build_object('partitions', 0, 'events', 0, 'skipped', 0);
    END IF;
    FOR p IN SELECT * FROM rt_event_partitions() WHERE hi <= p_before LOOP
      SELECT CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END INTO n FROM pg_class c WHERE c.oid = p.part;
      IF n IS NULL THEN EXECUTE format('SELECT count(*) FROM %s', p.part) INTO n; END IF;
      parts := parts || p.part;
      counts := counts || n;
    END LOOP;
    PERFORM set_config('lock_timeout', p_lock_timeout, true);
    FOR i IN 1 .. cardinality(parts) LOOP
      BEGIN
        EXECUTE format('DROP TABLE %s', parts[i]);
        dropped := dropped + 1;
        rows_ := rows_ + counts[i];
      EXCEPTION WHEN lock_not_available THEN
        skipped := skipped + 1;
        EXIT;
      END;
    END LOOP;
    IF skipped = 0 THEN
      BEGIN
        DELETE FROM events_default WHERE created_at < p_before;
        GET DIAGNOSTICS n = ROW_COUNT;
        rows_ := rows_ + n;
      EXCEPTION WHEN lock_not_available THEN
        skipped := skipped + 1;
      END;
    END IF;
    PERFORM set_config('lock_timeout', saved, true);
    RETURN json_build_object('partitions', dropped, 'events', rows_, 'skipped', skipped);
  END $$`,
];

/** How many days after today the partitions exist when nobody said (start-up, this migration). */
export const EVENT_PARTITION_DAYS_AHEAD = 3;

export const PARTITIONED_EVENTS_MIGRATION: readonly string[] = [
  ...CONVERT,
  ...FUNCTIONS,
  `SELECT rt_event_partitions_ensure(now(), ${EVENT_PARTITION_DAYS_AHEAD})`,
];
