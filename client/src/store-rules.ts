/**
 * The pure rules of the store (DESIGN §3, §10, §11), no I/O:
 * - how server truth changes: by an event, by a write's acknowledgement, by a refusal's `current`;
 * - how the visible view is derived: server truth, then every queued write applied in order.
 *   Rolling back a refused write is then exact: drop it from the queue and derive again.
 *
 * Server truth merges by `version` (the server's own order of commits, which already applied
 * last-write-wins on `updatedAt`): an older copy never overwrites a newer one, whatever order
 * events and responses arrive in. Tombstones win: a deleted draft never comes back.
 */
import type { Draft, EventPayloads, PendingOrder } from '../../service/src/protocol/index.js';
import type { ConvertResponse, DraftWriteResponse, UpsertResponse } from './rest.js';
import type { WriteOp } from './types.js';

export interface ServerState {
  drafts: Map<string, Draft>;
  pending: Map<string, PendingOrder>;
  /** Per pending order: the seq its record is known to be current at (fetched then, or later). */
  pendingFresh: Map<string, number>;
  /** The seq of the last pending-orders list read: every order's record is current at least there. */
  pendingFloor: number;
}

export interface View {
  drafts: Map<string, Draft>;
  pending: Map<string, PendingOrder>;
}

export const emptyState = (): ServerState => ({ drafts: new Map(), pending: new Map(), pendingFresh: new Map(), pendingFloor: -1 });

const freshness = (s: ServerState, id: string) => Math.max(s.pendingFloor, s.pendingFresh.get(id) ?? -1);

const newer = (a: string, b: string) => Date.parse(a) > Date.parse(b);

/** Put `inc` into `drafts` unless what is there is newer or a tombstone. Returns true when it changed. */
export function mergeDraft(drafts: Map<string, Draft>, inc: Draft): boolean {
  const cur = drafts.get(inc.id);
  if (cur) {
    if (cur.deleted && !inc.deleted) return false; // tombstones win
    const incWins =
      inc.version > cur.version ||
      (inc.version === cur.version && newer(inc.updatedAt, cur.updatedAt)) ||
      (inc.deleted && !cur.deleted) ||
      (inc.deleted && inc.convertedTo !== null && cur.convertedTo === null);
    if (!incWins) return false;
  }
  drafts.set(inc.id, inc);
  return true;
}

function tombstone(drafts: Map<string, Draft>, id: string, at: string, convertedTo: string | null): boolean {
  const cur = drafts.get(id);
  if (!cur || (cur.deleted && (convertedTo === null || cur.convertedTo === convertedTo))) return false;
  drafts.set(id, { ...cur, deleted: true, deletedAt: cur.deletedAt ?? at, convertedTo: convertedTo ?? cur.convertedTo });
  return true;
}

function patchOrder(s: ServerState, id: string, seq: number, patch: Partial<PendingOrder>): string[] {
  const cur = s.pending.get(id);
  if (!cur || freshness(s, id) >= seq) return []; // a fetch after this event already has it
  s.pending.set(id, { ...cur, ...patch });
  return [id];
}

/**
 * Apply a stored event that needs no fetch. Returns the ids it touched, or `fetch` with the pending
 * orders to read (PENDING_CREATED/UPDATED carry ids only): the store reads them, then calls
 * `applyFetched`.
 */
export function applyEvent(
  s: ServerState,
  e: { type: string; payload: unknown; seq: number; timestamp: string },
): { drafts: string[]; pending: string[]; fetch?: string[] } {
  const none = { drafts: [], pending: [] };
  switch (e.type) {
    case 'DRAFT_CREATED':
    case 'DRAFT_UPDATED': {
      const p = e.payload as EventPayloads['DRAFT_CREATED'];
      return mergeDraft(s.drafts, p.draft) ? { drafts: [p.draft.id], pending: [] } : none;
    }
    case 'DRAFT_DELETED': {
      const p = e.payload as EventPayloads['DRAFT_DELETED'];
      return tombstone(s.drafts, p.draftId, e.timestamp, null) ? { drafts: [p.draftId], pending: [] } : none;
    }
    case 'DRAFT_CONVERTED': {
      const p = e.payload as EventPayloads['DRAFT_CONVERTED'];
      return tombstone(s.drafts, p.draftId, e.timestamp, p.pendingOrderId) ? { drafts: [p.draftId], pending: [] } : none;
    }
    case 'PENDING_CREATED':
    case 'PENDING_UPDATED': {
      const p = e.payload as EventPayloads['PENDING_CREATED'];
      const stale = p.orderIds.filter((id) => freshness(s, id) < e.seq);
      return stale.length > 0 ? { drafts: [], pending: [], fetch: stale } : none;
    }
    case 'PENDING_DELETED': {
      const p = e.payload as EventPayloads['PENDING_DELETED'];
      if (freshness(s, p.orderId) >= e.seq) return none; // read after this delete: that answer wins
      s.pendingFresh.set(p.orderId, e.seq);
      return s.pending.delete(p.orderId) ? { drafts: [], pending: [p.orderId] } : none;
    }
    case 'JOB_STARTED': {
      const p = e.payload as EventPayloads['JOB_STARTED'];
      return { drafts: [], pending: patchOrder(s, p.orderId, e.seq, { status: 'submitting', jobId: p.jobId }) };
    }
    case 'JOB_COMPLETED': {
      const p = e.payload as EventPayloads['JOB_COMPLETED'];
      return { drafts: [], pending: patchOrder(s, p.orderId, e.seq, { status: 'submitted', erpOrderNumber: p.erpOrderNumber }) };
    }
    case 'JOB_FAILED': {
      const p = e.payload as EventPayloads['JOB_FAILED'];
      if (p.willRetry) return none;
      return { drafts: [], pending: patchOrder(s, p.orderId, e.seq, { status: 'failed' }) };
    }
    case 'ORDER_NUMBERS_RESOLVED': {
      const p = e.payload as EventPayloads['ORDER_NUMBERS_RESOLVED'];
      const ids = p.mappings.flatMap((m) => patchOrder(s, m.orderId, e.seq, { status: 'submitted', erpOrderNumber: m.erpOrderNumber }));
      return { drafts: [], pending: ids };
    }
    default:
      return none; // a type this client does not know: nothing to change
  }
}

/** The batch read's answer: present ids are set, absent ones were deleted. `freshAt`: a seq the read is at least as new as. */
export function applyFetched(s: ServerState, ids: readonly string[], items: readonly PendingOrder[], freshAt: number): string[] {
  const got = new Map(items.map((o) => [o.id, o]));
  const touched: string[] = [];
  for (const id of ids) {
    const o = got.get(id);
    if (o) s.pending.set(id, o);
    else if (!s.pending.delete(id)) continue;
    s.pendingFresh.set(id, Math.max(freshAt, s.pendingFresh.get(id) ?? -1));
    touched.push(id);
  }
  return touched;
}

/** Server truth after a write was acknowledged with `body`. */
export function applyAck(s: ServerState, op: WriteOp, body: unknown): void {
  switch (op.kind) {
    case 'draft.create':
    case 'draft.update':
    case 'draft.remove':
      mergeDraft(s.drafts, (body as DraftWriteResponse).draft);
      return;
    case 'draft.convert': {
      const b = body as ConvertResponse;
      mergeDraft(s.drafts, b.draft);
      if (b.pendingOrder && !s.pending.has(b.pendingOrder.id)) {
        s.pending.set(b.pendingOrder.id, b.pendingOrder);
        s.pendingFresh.set(b.pendingOrder.id, b.seq ?? -1);
      }
      return;
    }
    case 'pending.upsert': {
      // The answer names no records: what the server applied is what was sent. The store reads
      // the exact records right after (see Store.commitAck); until then this is the best guess.
      const applied = new Set((body as UpsertResponse).results.filter((r) => r.action === 'created' || r.action === 'updated').map((r) => r.id));
      for (const o of op.orders) {
        if (!applied.has(o.id)) continue;
        const cur = s.pending.get(o.id);
        s.pending.set(o.id, optimisticOrder(cur, o));
      }
      return;
    }
    case 'pending.remove':
      s.pending.delete(op.id);
      s.pendingFresh.set(op.id, (body as { seq?: number }).seq ?? -1);
      return;
    case 'pending.submit': {
      const cur = s.pending.get(op.id);
      // The server marks it submitting without an event; job events may already have moved it on.
      if (cur && (cur.status === 'pending' || cur.status === 'failed')) {
        s.pending.set(op.id, { ...cur, status: 'submitting', jobId: (body as { jobId: string }).jobId });
      }
      return;
    }
  }
}

/** A refusal that carries the server's current record (409 STALE_WRITE / VERSION_CONFLICT) updates truth too. */
export function applyRefusal(s: ServerState, body: unknown): void {
  const current = (body as { current?: Draft } | null)?.current;
  if (current && typeof current === 'object' && typeof current.id === 'string' && typeof current.version === 'number') {
    mergeDraft(s.drafts, current);
  }
}

function optimisticOrder(cur: PendingOrder | undefined, o: Extract<WriteOp, { kind: 'pending.upsert' }>['orders'][number]): PendingOrder {
  return {
    id: o.id,
    deviceId: cur?.deviceId ?? null,
    customerId: o.customerId,
    customerName: o.customerName,
    items: o.items,
    notes: o.notes,
    updatedAt: o.updatedAt,
    serverUpdatedAt: cur?.serverUpdatedAt ?? o.updatedAt,
    version: cur?.version ?? 0,
    status: cur?.status ?? 'pending',
    erpOrderNumber: cur?.erpOrderNumber ?? null,
    jobId: cur?.jobId ?? null,
    sourceDraftId: cur?.sourceDraftId ?? null,
  };
}

/**
 * Server truth with every queued write applied in order, each as the server would judge it
 * (a create over a tombstone, an update not newer than what is there, a locked order: not shown).
 */
export function deriveView(s: ServerState, ops: readonly WriteOp[], deviceId: string | null): View {
  const drafts = new Map(s.drafts);
  const pending = new Map(s.pending);
  for (const op of ops) {
    switch (op.kind) {
      case 'draft.create': {
        const cur = drafts.get(op.id);
        if (cur && (cur.deleted || !newer(op.body.updatedAt, cur.updatedAt))) break;
        drafts.set(op.id, {
          ...op.body,
          deviceId: deviceId ?? cur?.deviceId ?? null,
          serverUpdatedAt: cur?.serverUpdatedAt ?? op.body.updatedAt,
          version: cur?.version ?? 0,
          deleted: false,
          deletedAt: null,
          convertedTo: null,
        });
        break;
      }
      case 'draft.update': {
        const cur = drafts.get(op.id);
        if (!cur || cur.deleted) break;
        // With baseVersion the server judges by version (409 VERSION_CONFLICT), else by updatedAt (409 STALE_WRITE).
        if (op.body.baseVersion !== undefined ? op.body.baseVersion !== cur.version : !newer(op.body.updatedAt, cur.updatedAt)) break;
        const { baseVersion: _b, ...content } = op.body;
        drafts.set(op.id, { ...cur, ...content, deviceId: deviceId ?? cur.deviceId });
        break;
      }
      case 'draft.remove':
      case 'draft.convert': {
        const cur = drafts.get(op.id);
        if (cur && !cur.deleted) drafts.set(op.id, { ...cur, deleted: true, deletedAt: op.at });
        break;
      }
      case 'pending.upsert':
        for (const o of op.orders) {
          const cur = pending.get(o.id);
          if (cur && (cur.status === 'submitting' || cur.status === 'submitted' || !newer(o.updatedAt, cur.updatedAt))) continue;
          pending.set(o.id, { ...optimisticOrder(cur, o), deviceId: deviceId ?? cur?.deviceId ?? null });
        }
        break;
      case 'pending.remove':
        pending.delete(op.id);
        break;
      case 'pending.submit': {
        const cur = pending.get(op.id);
        if (cur && (cur.status === 'pending' || cur.status === 'failed')) pending.set(op.id, { ...cur, status: 'submitting' });
        break;
      }
    }
  }
  return { drafts, pending };
}

/** The ids touched by a write (for `pendingWrites[].targets`). */
export function targetsOf(op: WriteOp): string[] {
  return op.kind === 'pending.upsert' ? op.orders.map((o) => o.id) : [op.id];
}

/** A client `updatedAt` strictly after `prev`, so two quick edits never tie (a tie is a 409 STALE_WRITE). */
export function nextUpdatedAt(prev: string | undefined, now: Date = new Date()): string {
  const p = prev ? Date.parse(prev) : NaN;
  return new Date(Number.isFinite(p) && p >= now.getTime() ? p + 1 : now.getTime()).toISOString();
}
