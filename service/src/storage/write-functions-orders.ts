/**
 * The pending orders' and the submit job's write functions: the same four steps as the drafts'
 * (write-functions.ts explains them and defines the helpers used here).
 */

export const PENDING_ORDER_FUNCTIONS: readonly string[] = [
  `-- POST /api/pending-orders: batch upsert. p_orders: [{ id, deviceId, customerId, customerName,
  -- items, notes, updatedAt }], ids unique (checked before). One result per order, in order:
  -- created, updated (newer updatedAt), unchanged (identical: a retry), stale (older, different),
  -- locked (already sent to the ERP). At most one PENDING_CREATED and one PENDING_UPDATED per batch,
  -- never one per order. The reply's seq is the user's head after the batch.
  CREATE FUNCTION rt_pending_upsert(p_user text, p_key text, p_fingerprint text, p_not_before timestamptz,
                                    p_device text, p_orders json)
  RETURNS json LANGUAGE plpgsql AS $$
  DECLARE
    log user_logs; kept json; now_ timestamptz; v json; cur pending_orders;
    o_id uuid; o_device text; o_items jsonb; o_updated_at timestamptz; act text;
    results json[] := '{}'; created uuid[] := '{}'; updated uuid[] := '{}'; evs json[] := '{}';
    origin text := COALESCE(p_device, p_orders->0->>'deviceId');
  BEGIN
    log := rt_lock_log(p_user);
    kept := rt_kept_reply(p_user, p_key, p_fingerprint, p_not_before);
    IF kept IS NOT NULL THEN RETURN kept; END IF;
    now_ := rt_now();
    FOR v IN SELECT e.v FROM json_array_elements(p_orders) WITH ORDINALITY AS e(v, ord) ORDER BY e.ord LOOP
      o_id := (v->>'id')::uuid;
      o_device := COALESCE(p_device, v->>'deviceId');
      o_items := (v->'items')::jsonb;
      o_updated_at := (v->>'updatedAt')::timestamptz;
      SELECT * INTO cur FROM pending_orders WHERE user_id = p_user AND id = o_id;
      IF NOT FOUND THEN
        act := 'created';
        INSERT INTO pending_orders (user_id, id, device_id, customer_id, customer_name, items, notes, updated_at,
                                    server_updated_at, version, status, erp_order_number, job_id, source_draft_id)
        VALUES (p_user, o_id, o_device, v->>'customerId', v->>'customerName', o_items, v->>'notes', o_updated_at,
                now_, 1, 'pending', NULL, NULL, NULL);
        created := created || o_id;
      ELSIF cur.status IN ('submitting', 'submitted') THEN
        act := CASE WHEN rt_same_content(cur.customer_id, cur.customer_name, cur.items, cur.notes,
                                          v->>'customerId', v->>'customerName', o_items, v->>'notes')
                    THEN 'unchanged' ELSE 'locked' END;
      ELSIF o_updated_at <= cur.updated_at THEN
        act := CASE WHEN rt_same_content(cur.customer_id, cur.customer_name, cur.items, cur.notes,
                                          v->>'customerId', v->>'customerName', o_items, v->>'notes')
                    THEN 'unchanged' ELSE 'stale' END;
      ELSE
        act := 'updated';
        UPDATE pending_orders SET device_id = COALESCE(o_device, cur.device_id), customer_id = v->>'customerId',
          customer_name = v->>'customerName', items = o_items, notes = v->>'notes', updated_at = o_updated_at,
          server_updated_at = now_, version = cur.version + 1
        WHERE user_id = p_user AND id = o_id;
        updated := updated || o_id;
      END IF;
      results := results || json_build_object('id', o_id, 'action', act);
    END LOOP;
    IF cardinality(created) > 0 THEN
      evs := evs || rt_event('PENDING_CREATED', json_build_object('orderIds', to_json(created), 'count', cardinality(created)), origin);
    END IF;
    IF cardinality(updated) > 0 THEN
      evs := evs || rt_event('PENDING_UPDATED', json_build_object('orderIds', to_json(updated), 'count', cardinality(updated)), origin);
    END IF;
    RETURN rt_finish(log, now_, array_to_json(evs), 200,
      json_build_object('results', array_to_json(results), 'seq', log.last_seq + cardinality(evs)), p_key, p_fingerprint);
  END $$`,

  `-- DELETE /api/pending-orders/:id: PENDING_DELETED; NOT_FOUND emits nothing.
  CREATE FUNCTION rt_pending_delete(p_user text, p_key text, p_fingerprint text, p_not_before timestamptz,
                                    p_id uuid, p_device text)
  RETURNS json LANGUAGE plpgsql AS $$
  DECLARE log user_logs; kept json;
  BEGIN
    log := rt_lock_log(p_user);
    kept := rt_kept_reply(p_user, p_key, p_fingerprint, p_not_before);
    IF kept IS NOT NULL THEN RETURN kept; END IF;
    DELETE FROM pending_orders WHERE user_id = p_user AND id = p_id;
    IF NOT FOUND THEN RETURN json_build_object('refused', 'NOT_FOUND'); END IF;
    RETURN rt_finish(log, rt_now(), json_build_array(rt_event('PENDING_DELETED', json_build_object('orderId', p_id), p_device)),
      200, json_build_object('seq', log.last_seq + 1), p_key, p_fingerprint);
  END $$`,

  `-- POST /api/pending-orders/:id/submit, the committed part: the order becomes 'submitting' with a
  -- new job id (202 { jobId }), enqueued by the caller after commit. While a submission is under
  -- way, its job id again; once submitted, ALREADY_SUBMITTED. No event: the job emits them.
  CREATE FUNCTION rt_pending_submit(p_user text, p_key text, p_fingerprint text, p_not_before timestamptz, p_id uuid)
  RETURNS json LANGUAGE plpgsql AS $$
  DECLARE log user_logs; kept json; now_ timestamptz; cur pending_orders; job text;
  BEGIN
    log := rt_lock_log(p_user);
    kept := rt_kept_reply(p_user, p_key, p_fingerprint, p_not_before);
    IF kept IS NOT NULL THEN RETURN kept; END IF;
    now_ := rt_now();
    SELECT * INTO cur FROM pending_orders WHERE user_id = p_user AND id = p_id;
    IF NOT FOUND THEN RETURN json_build_object('refused', 'NOT_FOUND'); END IF;
    IF cur.status = 'submitted' THEN
      RETURN json_build_object('refused', 'ALREADY_SUBMITTED', 'erpOrderNumber', cur.erp_order_number);
    END IF;
    IF cur.status = 'submitting' AND cur.job_id IS NOT NULL THEN
      RETURN rt_finish(log, now_, '[]', 202, json_build_object('jobId', cur.job_id), p_key, p_fingerprint);
    END IF;
    job := gen_random_uuid()::text;
    UPDATE pending_orders SET status = 'submitting', job_id = job, server_updated_at = now_ WHERE user_id = p_user AND id = p_id;
    RETURN rt_finish(log, now_, '[]', 202, json_build_object('jobId', job), p_key, p_fingerprint);
  END $$`,
];

/**
 * Migration 7: rt_pending_submit with the submitting device (p_device), emitting PENDING_UPDATED.
 * Migration 4's five-argument version stays as it was (applied migrations are history, never
 * edited); this one replaces it on every database, old or new.
 */
export const PENDING_SUBMIT_EVENT_MIGRATION: readonly string[] = [
  `-- POST /api/pending-orders/:id/submit, the committed part: the order becomes 'submitting' with a
  -- new job id (202 { jobId }), enqueued by the caller after commit, and PENDING_UPDATED in the same
  -- transaction: a status change every device must see (DESIGN §3), not only once the job starts.
  -- While a submission is under way, its job id again and no event (nothing changed); once
  -- submitted, ALREADY_SUBMITTED. The job emits the rest.
  CREATE OR REPLACE FUNCTION rt_pending_submit(p_user text, p_key text, p_fingerprint text, p_not_before timestamptz,
                                               p_id uuid, p_device text)
  RETURNS json LANGUAGE plpgsql AS $$
  DECLARE log user_logs; kept json; now_ timestamptz; cur pending_orders; job text;
  BEGIN
    log := rt_lock_log(p_user);
    kept := rt_kept_reply(p_user, p_key, p_fingerprint, p_not_before);
    IF kept IS NOT NULL THEN RETURN kept; END IF;
    now_ := rt_now();
    SELECT * INTO cur FROM pending_orders WHERE user_id = p_user AND id = p_id;
    IF NOT FOUND THEN RETURN json_build_object('refused', 'NOT_FOUND'); END IF;
    IF cur.status = 'submitted' THEN
      RETURN json_build_object('refused', 'ALREADY_SUBMITTED', 'erpOrderNumber', cur.erp_order_number);
    END IF;
    IF cur.status = 'submitting' AND cur.job_id IS NOT NULL THEN
      RETURN rt_finish(log, now_, '[]', 202, json_build_object('jobId', cur.job_id), p_key, p_fingerprint);
    END IF;
    job := gen_random_uuid()::text;
    UPDATE pending_orders SET status = 'submitting', job_id = job, server_updated_at = now_, version = cur.version + 1
    WHERE user_id = p_user AND id = p_id;
    RETURN rt_finish(log, now_,
      json_build_array(rt_event('PENDING_UPDATED', json_build_object('orderIds', json_build_array(p_id), 'count', 1), p_device)),
      202, json_build_object('jobId', job), p_key, p_fingerprint);
  END $$`,
  `DROP FUNCTION rt_pending_submit(text, text, text, timestamptz, uuid)`,
];

export const JOB_FUNCTIONS: readonly string[] = [
  `-- One event and nothing else (JOB_STARTED): the generic append.
  CREATE FUNCTION rt_append_event(p_user text, p_type text, p_payload json, p_origin text)
  RETURNS json LANGUAGE plpgsql AS $$
  BEGIN
    RETURN rt_finish(rt_lock_log(p_user), rt_now(), json_build_array(rt_event(p_type, p_payload, p_origin)), 200, NULL, NULL, NULL);
  END $$`,

  `-- The ERP accepted the order: JOB_COMPLETED; the order (unless deleted meanwhile: the ERP has it,
  -- nothing left to update) becomes 'submitted' with its number: ORDER_NUMBERS_RESOLVED, PENDING_UPDATED.
  CREATE FUNCTION rt_job_completed(p_user text, p_order text, p_job text, p_erp text, p_device text)
  RETURNS json LANGUAGE plpgsql AS $$
  DECLARE log user_logs; now_ timestamptz; evs json[];
  BEGIN
    log := rt_lock_log(p_user);
    now_ := rt_now();
    evs := ARRAY[rt_event('JOB_COMPLETED', json_build_object('jobId', p_job, 'orderId', p_order, 'erpOrderNumber', p_erp), p_device)];
    UPDATE pending_orders SET status = 'submitted', erp_order_number = p_erp, server_updated_at = now_, version = version + 1
    WHERE user_id = p_user AND id = p_order::uuid;
    IF FOUND THEN
      evs := evs
        || rt_event('ORDER_NUMBERS_RESOLVED', json_build_object('mappings', json_build_array(json_build_object('orderId', p_order, 'erpOrderNumber', p_erp))), p_device)
        || rt_event('PENDING_UPDATED', json_build_object('orderIds', json_build_array(p_order), 'count', 1), p_device);
    END IF;
    RETURN rt_finish(log, now_, array_to_json(evs), 200, NULL, NULL, NULL);
  END $$`,

  `-- An attempt failed: JOB_FAILED; after the last attempt an order still 'submitting' becomes
  -- 'failed' (PENDING_UPDATED), so a new submit may be made.
  CREATE FUNCTION rt_job_failed(p_user text, p_order text, p_job text, p_error text, p_attempt integer,
                                p_will_retry boolean, p_device text)
  RETURNS json LANGUAGE plpgsql AS $$
  DECLARE log user_logs; now_ timestamptz; evs json[];
  BEGIN
    log := rt_lock_log(p_user);
    now_ := rt_now();
    evs := ARRAY[rt_event('JOB_FAILED', json_build_object('jobId', p_job, 'orderId', p_order, 'error', p_error,
                                                           'attempt', p_attempt, 'willRetry', p_will_retry), p_device)];
    IF NOT p_will_retry THEN
      UPDATE pending_orders SET status = 'failed', server_updated_at = now_, version = version + 1
      WHERE user_id = p_user AND id = p_order::uuid AND status = 'submitting';
      IF FOUND THEN
        evs := evs || rt_event('PENDING_UPDATED', json_build_object('orderIds', json_build_array(p_order), 'count', 1), p_device);
      END IF;
    END IF;
    RETURN rt_finish(log, now_, array_to_json(evs), 200, NULL, NULL, NULL);
  END $$`,
];
