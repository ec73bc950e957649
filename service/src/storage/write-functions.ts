/**
 * The write path as server-side functions (PL/pgSQL; PGlite runs the same): each write kind is one
 * call, so one round trip and one implicit transaction on PostgreSQL instead of BEGIN, the lock,
 * the read, the write, the events and COMMIT as six statements. What stays in TypeScript: input
 * validation (zod) and turning a refusal into the HTTP error.
 *
 * Every write function follows the same steps, in this order:
 * 1. `rt_lock_log`: lock the user's log row (created on first use). A user's writes are serialized,
 *    so seq is gapless and a user's events commit in seq order.
 * 2. `rt_kept_reply`: with an Idempotency-Key, a live record answers instead of the write (DESIGN
 *    §12). It is read after the lock was granted: at READ COMMITTED each statement of a volatile
 *    function takes a new snapshot, so it sees a key committed by the writer that held the lock before.
 * 3. read the row, decide (DESIGN §3/§10: last-write-wins on updatedAt, baseVersion, tombstones,
 *    identical-content retries). A refusal returns `{ "refused": CODE, ... }` before anything was
 *    written (the log row of a first write aside), and keeps no key.
 * 4. `rt_finish`: write the events (the next seqs, in order), advance the head, keep the key with
 *    the reply, and return `{ status, body, replayed, epoch, events }`.
 *
 * Time: `rt_now()` is read once per write, after the lock was granted: the clock at the write, a
 * few microseconds before its commit. It is the draft's serverUpdatedAt and every event's timestamp
 * (DESIGN §5: commit time). Taken after the lock, a user's event timestamps never go backwards in
 * seq order, which now() (the statement's start, before waiting for the lock) would not ensure.
 * Milliseconds, as the protocol's ISO-8601 strings carry them, so what a write answers and what a
 * later read returns are the same.
 *
 * Replies and payloads are built as `json` (not `jsonb`), so their keys keep the protocol's order;
 * the kept reply of a key is the same text, so a replay answers what the first request did.
 *
 * Migrations apply these once; a later change to a function is a new migration
 * (CREATE OR REPLACE), never an edit here.
 */

import { JOB_FUNCTIONS, PENDING_ORDER_FUNCTIONS } from './write-functions-orders.js';

const helpers = [
  `-- ISO-8601 UTC with milliseconds, as JavaScript's Date.toISOString() writes it.
  CREATE FUNCTION rt_iso(t timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  $$`,

  `-- The time of a write (see the module comment): taken after the user's lock, in milliseconds.
  CREATE FUNCTION rt_now() RETURNS timestamptz LANGUAGE sql VOLATILE AS $$
    SELECT date_trunc('milliseconds', clock_timestamp())
  $$`,

  `-- A draft as the protocol's Draft, keys in its order.
  CREATE FUNCTION rt_draft_json(d drafts) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', d.id, 'deviceId', d.device_id, 'customerId', d.customer_id,
      'customerName', d.customer_name, 'items', d.items, 'notes', d.notes, 'updatedAt', rt_iso(d.updated_at),
      'serverUpdatedAt', rt_iso(d.server_updated_at), 'version', d.version, 'deleted', d.deleted,
      'deletedAt', rt_iso(d.deleted_at), 'convertedTo', d.converted_to)
  $$`,

  `-- A pending order as the protocol's PendingOrder, keys in its order.
  CREATE FUNCTION rt_pending_json(o pending_orders) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', o.id, 'deviceId', o.device_id, 'customerId', o.customer_id,
      'customerName', o.customer_name, 'items', o.items, 'notes', o.notes, 'updatedAt', rt_iso(o.updated_at),
      'serverUpdatedAt', rt_iso(o.server_updated_at), 'version', o.version, 'status', o.status,
      'erpOrderNumber', o.erp_order_number, 'jobId', o.job_id, 'sourceDraftId', o.source_draft_id)
  $$`,

  `-- "Identical content" (a retry): what a client edits, compared exactly. Items arrive normalized
  -- (every field present, null when absent), as they are stored.
  CREATE FUNCTION rt_same_content(customer_id text, customer_name text, items jsonb, notes text,
                                  p_customer_id text, p_customer_name text, p_items jsonb, p_notes text)
  RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT customer_id = p_customer_id AND customer_name = p_customer_name AND items = p_items
       AND notes IS NOT DISTINCT FROM p_notes
  $$`,

  `-- Step 1: lock the user's log row until commit, creating it (seq 0, a new epoch) on first use.
  -- Two first writes at once: the second INSERT waits for the first and does nothing, then locks its row.
  CREATE FUNCTION rt_lock_log(p_user text) RETURNS user_logs LANGUAGE plpgsql AS $$
  DECLARE l user_logs;
  BEGIN
    SELECT * INTO l FROM user_logs WHERE user_id = p_user FOR NO KEY UPDATE;
    IF NOT FOUND THEN
      INSERT INTO user_logs (user_id, epoch) VALUES (p_user, gen_random_uuid()::text) ON CONFLICT (user_id) DO NOTHING;
      SELECT * INTO l FROM user_logs WHERE user_id = p_user FOR NO KEY UPDATE;
    END IF;
    RETURN l;
  END $$`,

  `-- Step 2: the kept reply of an Idempotency-Key, or a refusal when it was used for another request
  -- (another fingerprint: 422). NULL when the key is new, absent or expired (older than p_not_before).
  CREATE FUNCTION rt_kept_reply(p_user text, p_key text, p_fingerprint text, p_not_before timestamptz)
  RETURNS json LANGUAGE sql AS $$
    SELECT CASE WHEN k.fingerprint = p_fingerprint
      THEN json_build_object('status', k.status, 'body', k.body::json, 'replayed', true, 'events', '[]'::json)
      ELSE json_build_object('refused', 'IDEMPOTENCY_KEY_REUSED') END
    FROM idempotency_keys k
    WHERE k.user_id = p_user AND k.key = p_key AND k.created_at >= p_not_before
  $$`,

  `-- Step 4: append the write's events (p_events: [{ type, payload, originDeviceId }], seqs after the
  -- locked head, in order), advance the head, keep the key with the reply (replacing an expired
  -- record of it), and return the reply with the committed events for publishing.
  CREATE FUNCTION rt_finish(p_log user_logs, p_now timestamptz, p_events json, p_status integer, p_body json,
                            p_key text, p_fingerprint text)
  RETURNS json LANGUAGE plpgsql AS $$
  DECLARE n integer := json_array_length(p_events);
  BEGIN
    IF n > 0 THEN
      INSERT INTO events (user_id, seq, type, payload, origin_device_id, created_at)
      SELECT p_log.user_id, p_log.last_seq + e.ord, e.v->>'type', (e.v->'payload')::jsonb, e.v->>'originDeviceId', p_now
      FROM json_array_elements(p_events) WITH ORDINALITY AS e(v, ord);
      UPDATE user_logs SET last_seq = p_log.last_seq + n WHERE user_id = p_log.user_id;
    END IF;
    IF p_key IS NOT NULL THEN
      INSERT INTO idempotency_keys (user_id, key, fingerprint, status, body, created_at)
      VALUES (p_log.user_id, p_key, p_fingerprint, p_status, p_body::text, p_now)
      ON CONFLICT (user_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status,
        body = EXCLUDED.body, created_at = EXCLUDED.created_at;
    END IF;
    RETURN json_build_object('status', p_status, 'body', p_body, 'replayed', false, 'epoch', p_log.epoch,
      'events', COALESCE((
        SELECT json_agg(json_build_object('seq', p_log.last_seq + e.ord, 'type', e.v->'type', 'payload', e.v->'payload',
                                          'timestamp', rt_iso(p_now), 'originDeviceId', e.v->'originDeviceId') ORDER BY e.ord)
        FROM json_array_elements(p_events) WITH ORDINALITY AS e(v, ord)), '[]'::json));
  END $$`,

  `-- One event of a kind, for rt_finish.
  CREATE FUNCTION rt_event(p_type text, p_payload json, p_origin text) RETURNS json LANGUAGE sql IMMUTABLE AS $$
    SELECT json_build_object('type', p_type, 'payload', p_payload, 'originDeviceId', p_origin)
  $$`,
];

const drafts = [
  `-- A newer (or baseVersion-proven) write over a stored draft: DRAFT_UPDATED, 200. updatedAt never
  -- goes back (a baseVersion write may carry an older client clock); the device is kept when none is given.
  CREATE FUNCTION rt_draft_apply(p_log user_logs, p_now timestamptz, cur drafts, p_device text, p_customer_id text,
                                 p_customer_name text, p_items jsonb, p_notes text, p_updated_at timestamptz,
                                 p_key text, p_fingerprint text)
  RETURNS json LANGUAGE plpgsql AS $$
  DECLARE d drafts; dj json;
  BEGIN
    UPDATE drafts SET device_id = COALESCE(p_device, cur.device_id), customer_id = p_customer_id,
      customer_name = p_customer_name, items = p_items, notes = p_notes,
      updated_at = GREATEST(p_updated_at, cur.updated_at), server_updated_at = p_now, version = cur.version + 1
    WHERE user_id = cur.user_id AND id = cur.id
    RETURNING * INTO d;
    dj := rt_draft_json(d);
    RETURN rt_finish(p_log, p_now,
      json_build_array(rt_event('DRAFT_UPDATED', json_build_object('draftId', d.id, 'draft', dj, 'deviceId', p_device), p_device)),
      200, json_build_object('draft', dj, 'seq', p_log.last_seq + 1), p_key, p_fingerprint);
  END $$`,

  `-- POST /api/drafts: create (201, DRAFT_CREATED); the same id again is a retry or an upsert (DESIGN
  -- §10): newer updatedAt applies as an update, identical content is 200 with no event, else
  -- STALE_WRITE with the current draft; a tombstone is GONE. Ids are per user: another user's row
  -- with this id is never seen.
  CREATE FUNCTION rt_draft_create(p_user text, p_key text, p_fingerprint text, p_not_before timestamptz,
                                  p_id uuid, p_device text, p_customer_id text, p_customer_name text,
                                  p_items jsonb, p_notes text, p_updated_at timestamptz)
  RETURNS json LANGUAGE plpgsql AS $$
  DECLARE log user_logs; kept json; now_ timestamptz; cur drafts; d drafts; dj json;
  BEGIN
    log := rt_lock_log(p_user);
    kept := rt_kept_reply(p_user, p_key, p_fingerprint, p_not_before);
    IF kept IS NOT NULL THEN RETURN kept; END IF;
    now_ := rt_now();
    SELECT * INTO cur FROM drafts WHERE user_id = p_user AND id = p_id;
    IF NOT FOUND THEN
      INSERT INTO drafts (user_id, id, device_id, customer_id, customer_name, items, notes, updated_at,
                          server_updated_at, version, deleted, deleted_at, converted_to)
      VALUES (p_user, p_id, p_device, p_customer_id, p_customer_name, p_items, p_notes, p_updated_at, now_, 1, false, NULL, NULL)
      RETURNING * INTO d;
      dj := rt_draft_json(d);
      RETURN rt_finish(log, now_,
        json_build_array(rt_event('DRAFT_CREATED', json_build_object('draftId', d.id, 'draft', dj, 'deviceId', p_device), p_device)),
        201, json_build_object('draft', dj, 'seq', log.last_seq + 1), p_key, p_fingerprint);
    END IF;
    IF cur.deleted THEN RETURN json_build_object('refused', 'GONE'); END IF;
    IF p_updated_at > cur.updated_at THEN
      RETURN rt_draft_apply(log, now_, cur, p_device, p_customer_id, p_customer_name, p_items, p_notes, p_updated_at, p_key, p_fingerprint);
    END IF;
    IF rt_same_content(cur.customer_id, cur.customer_name, cur.items, cur.notes, p_customer_id, p_customer_name, p_items, p_notes) THEN
      RETURN rt_finish(log, now_, '[]', 200, json_build_object('draft', rt_draft_json(cur), 'seq', NULL), p_key, p_fingerprint);
    END IF;
    RETURN json_build_object('refused', 'STALE_WRITE', 'current', rt_draft_json(cur));
  END $$`,

  `-- PUT /api/drafts/:id: never creates (NOT_FOUND); a tombstone is GONE. With baseVersion
  -- (optimistic concurrency) the client proves it saw the current version, so its write wins; another
  -- version is VERSION_CONFLICT unless the content is identical (a retry of a write that applied).
  -- Without it, last-write-wins on updatedAt: not newer is 200 with no event when identical, else STALE_WRITE.
  CREATE FUNCTION rt_draft_update(p_user text, p_key text, p_fingerprint text, p_not_before timestamptz,
                                  p_id uuid, p_device text, p_customer_id text, p_customer_name text,
                                  p_items jsonb, p_notes text, p_updated_at timestamptz, p_base_version integer)
  RETURNS json LANGUAGE plpgsql AS $$
  DECLARE log user_logs; kept json; now_ timestamptz; cur drafts; identical boolean;
  BEGIN
    log := rt_lock_log(p_user);
    kept := rt_kept_reply(p_user, p_key, p_fingerprint, p_not_before);
    IF kept IS NOT NULL THEN RETURN kept; END IF;
    now_ := rt_now();
    SELECT * INTO cur FROM drafts WHERE user_id = p_user AND id = p_id;
    IF NOT FOUND THEN RETURN json_build_object('refused', 'NOT_FOUND'); END IF;
    IF cur.deleted THEN RETURN json_build_object('refused', 'GONE'); END IF;
    identical := rt_same_content(cur.customer_id, cur.customer_name, cur.items, cur.notes,
                                 p_customer_id, p_customer_name, p_items, p_notes);
    IF p_base_version IS NOT NULL THEN
      IF p_base_version <> cur.version AND NOT identical THEN
        RETURN json_build_object('refused', 'VERSION_CONFLICT', 'current', rt_draft_json(cur));
      END IF;
      IF p_base_version <> cur.version OR (identical AND p_updated_at <= cur.updated_at) THEN
        RETURN rt_finish(log, now_, '[]', 200, json_build_object('draft', rt_draft_json(cur), 'seq', NULL), p_key, p_fingerprint);
      END IF;
    ELSIF p_updated_at <= cur.updated_at THEN
      IF NOT identical THEN RETURN json_build_object('refused', 'STALE_WRITE', 'current', rt_draft_json(cur)); END IF;
      RETURN rt_finish(log, now_, '[]', 200, json_build_object('draft', rt_draft_json(cur), 'seq', NULL), p_key, p_fingerprint);
    END IF;
    RETURN rt_draft_apply(log, now_, cur, p_device, p_customer_id, p_customer_name, p_items, p_notes, p_updated_at, p_key, p_fingerprint);
  END $$`,

  `-- DELETE /api/drafts/:id: tombstone (DRAFT_DELETED); a tombstone again is 200 with no event.
  CREATE FUNCTION rt_draft_delete(p_user text, p_key text, p_fingerprint text, p_not_before timestamptz,
                                  p_id uuid, p_device text)
  RETURNS json LANGUAGE plpgsql AS $$
  DECLARE log user_logs; kept json; now_ timestamptz; cur drafts; d drafts;
  BEGIN
    log := rt_lock_log(p_user);
    kept := rt_kept_reply(p_user, p_key, p_fingerprint, p_not_before);
    IF kept IS NOT NULL THEN RETURN kept; END IF;
    now_ := rt_now();
    SELECT * INTO cur FROM drafts WHERE user_id = p_user AND id = p_id;
    IF NOT FOUND THEN RETURN json_build_object('refused', 'NOT_FOUND'); END IF;
    IF cur.deleted THEN
      RETURN rt_finish(log, now_, '[]', 200, json_build_object('draft', rt_draft_json(cur), 'seq', NULL), p_key, p_fingerprint);
    END IF;
    UPDATE drafts SET device_id = COALESCE(p_device, cur.device_id), deleted = true, deleted_at = now_,
      server_updated_at = now_, version = cur.version + 1
    WHERE user_id = p_user AND id = p_id
    RETURNING * INTO d;
    RETURN rt_finish(log, now_,
      json_build_array(rt_event('DRAFT_DELETED', json_build_object('draftId', d.id, 'deleted', true, 'deviceId', p_device), p_device)),
      200, json_build_object('draft', rt_draft_json(d), 'seq', log.last_seq + 1), p_key, p_fingerprint);
  END $$`,

  `-- POST /api/drafts/:id/convert: the draft becomes a pending order (201, DRAFT_CONVERTED then
  -- PENDING_CREATED) and a tombstone with convertedTo. Converting again answers the same order, no
  -- event; a tombstone that was not converted is GONE.
  CREATE FUNCTION rt_draft_convert(p_user text, p_key text, p_fingerprint text, p_not_before timestamptz,
                                   p_id uuid, p_device text)
  RETURNS json LANGUAGE plpgsql AS $$
  DECLARE log user_logs; kept json; now_ timestamptz; cur drafts; d drafts; o pending_orders; found_order boolean;
  BEGIN
    log := rt_lock_log(p_user);
    kept := rt_kept_reply(p_user, p_key, p_fingerprint, p_not_before);
    IF kept IS NOT NULL THEN RETURN kept; END IF;
    now_ := rt_now();
    SELECT * INTO cur FROM drafts WHERE user_id = p_user AND id = p_id;
    IF NOT FOUND THEN RETURN json_build_object('refused', 'NOT_FOUND'); END IF;
    IF cur.deleted AND cur.converted_to IS NOT NULL THEN
      SELECT * INTO o FROM pending_orders WHERE user_id = p_user AND id = cur.converted_to;
      found_order := FOUND;
      RETURN rt_finish(log, now_, '[]', 200,
        json_build_object('pendingOrderId', cur.converted_to, 'pendingOrder', CASE WHEN found_order THEN rt_pending_json(o) END,
                          'draft', rt_draft_json(cur), 'seq', NULL),
        p_key, p_fingerprint);
    END IF;
    IF cur.deleted THEN RETURN json_build_object('refused', 'GONE'); END IF;
    INSERT INTO pending_orders (user_id, id, device_id, customer_id, customer_name, items, notes, updated_at,
                                server_updated_at, version, status, erp_order_number, job_id, source_draft_id)
    VALUES (p_user, gen_random_uuid(), COALESCE(p_device, cur.device_id), cur.customer_id, cur.customer_name,
            cur.items, cur.notes, now_, now_, 1, 'pending', NULL, NULL, cur.id)
    RETURNING * INTO o;
    UPDATE drafts SET deleted = true, deleted_at = now_, converted_to = o.id, server_updated_at = now_, version = cur.version + 1
    WHERE user_id = p_user AND id = p_id
    RETURNING * INTO d;
    RETURN rt_finish(log, now_,
      json_build_array(
        rt_event('DRAFT_CONVERTED', json_build_object('draftId', d.id, 'pendingOrderId', o.id), p_device),
        rt_event('PENDING_CREATED', json_build_object('orderIds', json_build_array(o.id), 'count', 1), p_device)),
      201,
      json_build_object('pendingOrderId', o.id, 'pendingOrder', rt_pending_json(o), 'draft', rt_draft_json(d), 'seq', log.last_seq + 2),
      p_key, p_fingerprint);
  END $$`,
];

/**
 * Migration 4's statements: the published watermark replaces events.published_at (the outbox no
 * longer rewrites event rows, realtime/outbox.ts), then the write functions.
 */
export const WRITE_PATH_MIGRATION: readonly string[] = [
  'ALTER TABLE user_logs ADD COLUMN published_seq bigint NOT NULL DEFAULT 0',
  // Everything before a user's first unpublished event counts as published; what follows it is
  // republished once (the hub drops the duplicates).
  `UPDATE user_logs l SET published_seq = COALESCE(
     (SELECT min(e.seq) - 1 FROM events e WHERE e.user_id = l.user_id AND e.published_at IS NULL), l.last_seq)`,
  'DROP INDEX events_unpublished_idx',
  'ALTER TABLE events DROP COLUMN published_at',
  // user_logs is updated on every write: leave room on each page so the update stays HOT (no index
  // entry, no new page).
  'ALTER TABLE user_logs SET (fillfactor = 70)',
  // The periodic sweep reads user_logs (one narrow row per user): one instance per interval does it.
  'CREATE TABLE outbox_sweeps (id integer PRIMARY KEY, swept_at timestamptz NOT NULL)',
  "INSERT INTO outbox_sweeps (id, swept_at) VALUES (1, '-infinity')",
  ...helpers,
  ...drafts,
  ...PENDING_ORDER_FUNCTIONS,
  ...JOB_FUNCTIONS,
];
