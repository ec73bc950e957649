/**
 * The synthetic workload: what each write is (draft create/update/delete/convert, pending batch
 * upsert of 1–N orders, pending delete), its request, and the events its response says it emitted.
 * A user's drafts and pending orders are tracked so updates, deletes and converts target entities
 * that exist and that no other write of the run is touching at the same moment (a write on an
 * entity is sent only after the previous one on it was answered), so every write is valid.
 */
import { randomUUID } from 'node:crypto';
import { WRITE_KINDS, type WriteKind } from './options.js';

export interface Request {
  method: 'POST' | 'PUT' | 'DELETE';
  path: string;
  body?: unknown;
}

export interface PlannedWrite {
  kind: WriteKind;
  request: Request;
  /** Ids this write creates or touches. */
  ids: string[];
  /** Called with the parsed response body (2xx): returns the event types emitted, in seq order. */
  onResponse(body: unknown): { types: string[]; lastSeq: number | null; newIds: string[] };
  /** Called on failure: release what the write held. */
  onFailure(): void;
}

interface Entity {
  id: string;
  updatedAt: number;
  quantity: number;
  busy: boolean;
}

/** One user's entities and write planning. */
export class UserWorkload {
  private readonly drafts = new Map<string, Entity>();
  private readonly pending = new Map<string, Entity>();

  constructor(
    private readonly runId: string,
    private readonly batchMax: number,
    private readonly random: () => number = Math.random,
  ) {}

  plan(wanted: WriteKind): PlannedWrite {
    switch (wanted) {
      case 'update':
      case 'delete':
      case 'convert': {
        const d = this.idle(this.drafts);
        if (!d) return this.create();
        return wanted === 'update' ? this.update(d) : wanted === 'delete' ? this.removeDraft(d) : this.convert(d);
      }
      case 'pending-delete': {
        const p = this.idle(this.pending);
        return p ? this.removePending(p) : this.batch();
      }
      case 'batch':
        return this.batch();
      default:
        return this.create();
    }
  }

  private idle(map: Map<string, Entity>): Entity | undefined {
    // Oldest idle first: Map iteration is insertion order. Bounded scan keeps this O(1) in practice.
    let scanned = 0;
    for (const e of map.values()) {
      if (!e.busy) return e;
      if (++scanned > 64) break;
    }
    return undefined;
  }

  /** The last timestamp formatted: a batch's fresh orders share one (toISOString per order showed in profiles). */
  private lastIso = { t: -1, iso: '' };

  private nextTime(e: Entity | null, now = Date.now()): string {
    const t = Math.max(now, (e?.updatedAt ?? 0) + 1);
    if (e) e.updatedAt = t;
    if (this.lastIso.t !== t) this.lastIso = { t, iso: new Date(t).toISOString() };
    return this.lastIso.iso;
  }

  private content(quantity: number, updatedAt: string) {
    return { customerId: `C-${this.runId}`, customerName: `Latency run ${this.runId}`, items: [{ productId: 'P-1', quantity }], notes: null, updatedAt };
  }

  private create(): PlannedWrite {
    const e: Entity = { id: randomUUID(), updatedAt: 0, quantity: 1, busy: true };
    const body = { id: e.id, ...this.content(1, this.nextTime(e)) };
    return {
      kind: 'create',
      request: { method: 'POST', path: '/api/drafts', body },
      ids: [e.id],
      onResponse: (b) => {
        e.busy = false;
        this.drafts.set(e.id, e);
        const seq = seqOf(b);
        return { types: seq === null ? [] : ['DRAFT_CREATED'], lastSeq: seq, newIds: [] };
      },
      onFailure: () => undefined,
    };
  }

  private update(e: Entity): PlannedWrite {
    e.busy = true;
    e.quantity += 1;
    return {
      kind: 'update',
      request: { method: 'PUT', path: `/api/drafts/${e.id}`, body: this.content(e.quantity, this.nextTime(e)) },
      ids: [e.id],
      onResponse: (b) => {
        e.busy = false;
        const seq = seqOf(b);
        return { types: seq === null ? [] : ['DRAFT_UPDATED'], lastSeq: seq, newIds: [] };
      },
      onFailure: () => void (e.busy = false),
    };
  }

  private removeDraft(e: Entity): PlannedWrite {
    this.drafts.delete(e.id);
    return {
      kind: 'delete',
      request: { method: 'DELETE', path: `/api/drafts/${e.id}` },
      ids: [e.id],
      onResponse: (b) => {
        const seq = seqOf(b);
        return { types: seq === null ? [] : ['DRAFT_DELETED'], lastSeq: seq, newIds: [] };
      },
      onFailure: () => undefined,
    };
  }

  private convert(e: Entity): PlannedWrite {
    this.drafts.delete(e.id);
    return {
      kind: 'convert',
      request: { method: 'POST', path: `/api/drafts/${e.id}/convert` },
      ids: [e.id],
      onResponse: (b) => {
        const body = b as { pendingOrderId?: string };
        const seq = seqOf(b);
        const newIds = typeof body.pendingOrderId === 'string' ? [body.pendingOrderId] : [];
        for (const id of newIds) this.pending.set(id, { id, updatedAt: Date.now(), quantity: 1, busy: false });
        return { types: seq === null ? [] : ['DRAFT_CONVERTED', 'PENDING_CREATED'], lastSeq: seq, newIds };
      },
      onFailure: () => undefined,
    };
  }

  private batch(): PlannedWrite {
    const size = 1 + Math.floor(this.random() * this.batchMax);
    // About a quarter of the batches also update orders that exist (PENDING_UPDATED in the same batch).
    const updates: Entity[] = [];
    if (this.random() < 0.25) {
      for (const p of this.pending.values()) {
        if (updates.length >= Math.max(1, Math.floor(size / 4))) break;
        if (!p.busy) updates.push(p);
      }
    }
    const fresh: Entity[] = Array.from({ length: Math.max(1, size - updates.length) }, () => ({ id: randomUUID(), updatedAt: 0, quantity: 1, busy: true }));
    for (const u of updates) {
      u.busy = true;
      u.quantity += 1;
    }
    const now = Date.now();
    const orders = [...fresh, ...updates].map((e) => ({ id: e.id, ...this.content(e.quantity, this.nextTime(e, now)) }));
    return {
      kind: 'batch',
      request: { method: 'POST', path: '/api/pending-orders', body: { orders } },
      ids: orders.map((o) => o.id),
      onResponse: (b) => {
        const results = ((b as { results?: { id: string; action: string }[] }).results ?? []) as { id: string; action: string }[];
        for (const e of fresh) this.pending.set(e.id, { ...e, busy: false });
        for (const u of updates) u.busy = false;
        const types: string[] = [];
        if (results.some((r) => r.action === 'created')) types.push('PENDING_CREATED');
        if (results.some((r) => r.action === 'updated')) types.push('PENDING_UPDATED');
        return { types, lastSeq: types.length ? seqOf(b) : null, newIds: [] };
      },
      onFailure: () => {
        for (const u of updates) u.busy = false;
      },
    };
  }

  private removePending(e: Entity): PlannedWrite {
    this.pending.delete(e.id);
    return {
      kind: 'pending-delete',
      request: { method: 'DELETE', path: `/api/pending-orders/${e.id}` },
      ids: [e.id],
      onResponse: (b) => {
        const seq = seqOf(b);
        return { types: seq === null ? [] : ['PENDING_DELETED'], lastSeq: seq, newIds: [] };
      },
      onFailure: () => undefined,
    };
  }
}

function seqOf(body: unknown): number | null {
  const s = (body as { seq?: unknown } | null)?.seq;
  return typeof s === 'number' ? s : null;
}

/** Weighted choice of the next kind. */
export function chooser(mix: Record<WriteKind, number>, random: () => number = Math.random): () => WriteKind {
  const total = WRITE_KINDS.reduce((s, k) => s + mix[k], 0);
  return () => {
    let r = random() * total;
    for (const k of WRITE_KINDS) {
      r -= mix[k];
      if (r < 0) return k;
    }
    return 'create';
  };
}
