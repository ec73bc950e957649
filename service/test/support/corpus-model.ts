/**
 * The model of what a corpus run saw accepted: every 2xx answer to a write (never a replayed one)
 * updates it, nothing else does. The invariants compare the service with it: the user's lists hold
 * exactly these writes, and the user's event log holds one event per accepted change, gapless,
 * with nothing for a 4xx, a no-op or a replay. It knows only the HTTP contract (DESIGN §3, §10, §12),
 * not the service's internals.
 */
import { isDeepStrictEqual } from 'node:util';
import type { RawResponse } from './corpus.js';

export type WriteOp =
  | { kind: 'draft.create' | 'draft.update'; id: string; sent: Record<string, unknown>; origin: string | null }
  | { kind: 'draft.delete' | 'draft.convert' | 'pending.delete' | 'pending.submit'; id: string; origin: string | null }
  | { kind: 'pending.upsert'; orders: Record<string, unknown>[]; origin: string | null }
  | { kind: 'read' }
  | { kind: 'none' };

/** What the generator knows about a request beyond its bytes. */
export interface Expectation {
  /** Broken on purpose: anything but a 4xx is a bug. */
  mustFail: boolean;
  /** Fully valid and without a reused Idempotency-Key: the outcome is predictable from the model. */
  predictable: boolean;
}

export interface ExpectedEvent {
  seq: number;
  type: string;
  /** draftId, orderId, or the sorted orderIds of a batch event. */
  key: string;
  origin: string | null;
}

interface DraftLike {
  id: string;
  deleted: boolean;
  convertedTo: string | null;
  version: number;
  customerId: string;
  customerName: string;
  notes: string | null;
  items: unknown[];
  [k: string]: unknown;
}

export interface PendingSnapshot {
  id: string;
  customerId: string;
  customerName: string;
  items: unknown[];
  notes: string | null;
  updatedAt: string;
  version: number;
}

const normItems = (items: unknown): unknown[] =>
  Array.isArray(items)
    ? items.map((raw) => {
        const i = raw as Record<string, unknown>;
        return { productId: i.productId, quantity: i.quantity, price: i.price ?? null, notes: i.notes ?? null };
      })
    : [];

/** JSON round trip: what the other side of the wire sees (-0 is 0, undefined fields are gone). */
const wire = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export function pendingSnapshot(o: Record<string, unknown>, version: number): PendingSnapshot {
  return wire({
    id: String(o.id).toLowerCase(),
    customerId: o.customerId as string,
    customerName: o.customerName as string,
    items: normItems(o.items),
    notes: (o.notes as string | null | undefined) ?? null,
    updatedAt: new Date(o.updatedAt as string).toISOString(),
    version,
  });
}

export function eventKey(type: string, payload: Record<string, unknown>): string {
  if (type.startsWith('DRAFT_')) return String(payload.draftId);
  if (type === 'PENDING_DELETED') return String(payload.orderId);
  if (Array.isArray(payload.orderIds)) return [...(payload.orderIds as string[])].sort().join(',');
  return '?';
}

export class WriteModel {
  readonly drafts = new Map<string, DraftLike>();
  readonly pending = new Map<string, PendingSnapshot>();
  readonly events: ExpectedEvent[] = [];
  /** Ids of the other user's rows: the corpus user may send them, never see them. */
  constructor(readonly foreignIds: ReadonlySet<string>) {}

  draftIds(): string[] {
    return [...this.drafts.keys()];
  }

  pendingIds(): string[] {
    return [...this.pending.keys()];
  }

  private push(type: string, seq: unknown, key: string, origin: string | null, problems: string[]): void {
    const next = this.events.length + 1;
    if (seq !== next) problems.push(`${type} for ${key} answered seq ${String(seq)}, expected ${next} (the log has a gap or a double)`);
    this.events.push({ seq: next, type, key, origin });
  }

  /** The statuses a predictable request may get, from what the model holds. */
  private predicted(op: WriteOp): number[] | null {
    if (!('id' in op)) return op.kind === 'pending.upsert' ? [200] : null;
    const foreign = this.foreignIds.has(op.id);
    const d = this.drafts.get(op.id);
    switch (op.kind) {
      case 'draft.create':
        if (!d) return foreign ? [201, 409] : [201]; // DESIGN §10: another user's id is created under the caller, or 409 without details
        return d.deleted ? [410] : [200, 409];
      case 'draft.update':
        if (!d) return [404];
        return d.deleted ? [410] : [200, 409];
      case 'draft.delete':
        return d ? [200] : [404];
      case 'draft.convert':
        if (!d) return [404];
        return d.convertedTo ? [200] : d.deleted ? [410] : [201];
      case 'pending.delete':
        return this.pending.has(op.id) ? [200] : [404];
      case 'pending.submit':
        // The corpus submits unknown ids only: a job would change the order behind the model's back.
        return this.pending.has(op.id) ? null : [404];
    }
  }

  /** Record one answer; returns what contradicts the contract. */
  apply(op: WriteOp, expect: Expectation, res: RawResponse): string[] {
    const problems: string[] = [];
    const ok = res.status >= 200 && res.status < 300;
    if (expect.mustFail && ok) problems.push(`a broken request was accepted with ${res.status}`);
    if (expect.predictable) {
      const allowed = this.predicted(op);
      if (allowed && !allowed.includes(res.status)) problems.push(`status ${res.status}, expected one of ${allowed.join('/')}`);
    }
    if (!ok) return problems;
    if (res.headers['idempotent-replayed'] === 'true') return problems; // the kept answer: no change, no event
    const body = res.json as Record<string, unknown> | undefined;
    if (op.kind === 'none') {
      if (res.status !== 204) problems.push(`${res.status} from a route that is not a write or read of this API`);
      return problems;
    }
    if (op.kind === 'read') return problems;
    if (!body) return [...problems, `2xx without a JSON body`];
    switch (op.kind) {
      case 'draft.create':
      case 'draft.update':
      case 'draft.delete': {
        const draft = body.draft as DraftLike;
        if (draft?.id !== op.id) return [...problems, `answered draft ${String(draft?.id)} for ${op.id}`];
        if (body.seq === null) {
          if (!isDeepStrictEqual(draft, this.drafts.get(op.id))) problems.push('a no-op (seq null) answered a draft the model does not hold');
          return problems;
        }
        const type = op.kind === 'draft.delete' ? 'DRAFT_DELETED' : res.status === 201 ? 'DRAFT_CREATED' : 'DRAFT_UPDATED';
        const prev = this.drafts.get(op.id);
        if (type === 'DRAFT_CREATED' && (prev || draft.version !== 1 || draft.deleted || draft.convertedTo !== null)) {
          problems.push(`created draft is ${JSON.stringify({ version: draft.version, deleted: draft.deleted, convertedTo: draft.convertedTo })} (server fields taken from the body?)`);
        }
        if (type !== 'DRAFT_CREATED' && prev && draft.version !== prev.version + 1) problems.push(`version ${draft.version} after ${prev.version}`);
        if (op.kind === 'draft.delete' ? !draft.deleted : draft.deleted) problems.push(`deleted is ${String(draft.deleted)} after ${op.kind}`);
        if (op.kind === 'draft.create' || op.kind === 'draft.update') {
          const sent = op.sent;
          const content = { customerId: sent.customerId, customerName: sent.customerName, notes: sent.notes ?? null, items: normItems(sent.items) };
          const got = { customerId: draft.customerId, customerName: draft.customerName, notes: draft.notes, items: normItems(draft.items) };
          if (!isDeepStrictEqual(wire(content), wire(got))) problems.push(`stored content differs from the sent one: ${JSON.stringify(got).slice(0, 200)}`);
        }
        this.push(type, body.seq, op.id, op.origin, problems);
        this.drafts.set(op.id, draft);
        return problems;
      }
      case 'draft.convert': {
        const draft = body.draft as DraftLike;
        const prev = this.drafts.get(op.id);
        if (res.status === 200) {
          if (body.pendingOrderId !== prev?.convertedTo || body.seq !== null) problems.push('a repeated convert changed its answer or emitted');
          return problems;
        }
        const order = body.pendingOrder as Record<string, unknown> | null;
        if (!order || order.id !== body.pendingOrderId || draft?.convertedTo !== body.pendingOrderId || !draft.deleted) {
          return [...problems, `convert answered ${JSON.stringify(body).slice(0, 200)}`];
        }
        const seq = body.seq as number;
        this.push('DRAFT_CONVERTED', seq - 1, op.id, op.origin, problems);
        this.push('PENDING_CREATED', seq, String(order.id), op.origin, problems);
        this.drafts.set(op.id, draft);
        this.pending.set(String(order.id), pendingSnapshot(order, order.version as number));
        return problems;
      }
      case 'pending.upsert': {
        const results = body.results as { id: string; action: string }[] | undefined;
        if (!Array.isArray(results) || results.length !== op.orders.length) return [...problems, `results ${JSON.stringify(results)?.slice(0, 200)}`];
        const created: string[] = [];
        const updated: string[] = [];
        results.forEach((r, i) => {
          const sent = op.orders[i]!;
          const id = String(sent.id).toLowerCase();
          if (r.id !== id) problems.push(`result ${i} is for ${r.id}, sent ${id}`);
          const known = this.pending.get(id);
          if (r.action === 'created') {
            if (known) problems.push(`order ${id} created twice`);
            created.push(id);
            this.pending.set(id, pendingSnapshot(sent, 1));
          } else if (r.action === 'updated') {
            if (!known) problems.push(`order ${id} updated but never created`);
            updated.push(id);
            this.pending.set(id, pendingSnapshot(sent, (known?.version ?? 0) + 1));
          } else if (!known) {
            problems.push(`order ${id} is ${r.action} but the user has no such order`);
          }
        });
        const n = (created.length > 0 ? 1 : 0) + (updated.length > 0 ? 1 : 0);
        const head = body.seq as number;
        if (created.length > 0) this.push('PENDING_CREATED', head - n + 1, created.sort().join(','), op.origin, problems);
        if (updated.length > 0) this.push('PENDING_UPDATED', head, updated.sort().join(','), op.origin, problems);
        if (n === 0 && head !== this.events.length) problems.push(`a batch that changed nothing answered seq ${head}, head is ${this.events.length}`);
        return problems;
      }
      case 'pending.delete':
        this.push('PENDING_DELETED', body.seq, op.id, op.origin, problems);
        this.pending.delete(op.id);
        return problems;
      case 'pending.submit':
        return [...problems, `submit of ${op.id} accepted (${res.status}): the corpus only submits unknown orders`];
    }
  }

  /** Differences between the lists the service answers and the model. */
  compareLists(drafts: { items: DraftLike[]; seq: number }, pending: { items: Record<string, unknown>[]; seq: number }): string[] {
    const problems: string[] = [];
    const head = this.events.length;
    if (drafts.seq !== head || pending.seq !== head) problems.push(`list seq ${drafts.seq}/${pending.seq}, the model's head is ${head}`);
    const gotDrafts = new Map(drafts.items.map((d) => [d.id, d]));
    for (const [id, d] of this.drafts) {
      const got = gotDrafts.get(id);
      if (!got) problems.push(`draft ${id} accepted but missing`);
      else if (!isDeepStrictEqual(wire(got), wire(d))) problems.push(`draft ${id} is ${JSON.stringify(got).slice(0, 300)}, accepted ${JSON.stringify(d).slice(0, 300)}`);
    }
    for (const id of gotDrafts.keys()) if (!this.drafts.has(id)) problems.push(`draft ${id} listed but never accepted`);
    const gotPending = new Map(pending.items.map((o) => [String(o.id), o]));
    for (const [id, o] of this.pending) {
      const got = gotPending.get(id);
      if (!got) problems.push(`pending order ${id} accepted but missing`);
      else if (!isDeepStrictEqual(pendingSnapshot(got, got.version as number), o)) {
        problems.push(`pending order ${id} is ${JSON.stringify(pendingSnapshot(got, got.version as number)).slice(0, 300)}, accepted ${JSON.stringify(o).slice(0, 300)}`);
      }
      if (got && got.status !== 'pending') problems.push(`pending order ${id} has status ${String(got.status)}`);
    }
    for (const id of gotPending.keys()) if (!this.pending.has(id)) problems.push(`pending order ${id} listed but never accepted`);
    return problems;
  }

  /** Differences between the stored events a device received and the expected log (1..head, once each). */
  compareEvents(frames: { type: string; payload: Record<string, unknown>; seq?: number; originDeviceId?: string | null }[]): string[] {
    const got = frames.filter((f) => f.seq !== undefined).map((f) => ({ seq: f.seq!, type: f.type, key: eventKey(f.type, f.payload ?? {}), origin: f.originDeviceId ?? null }));
    if (isDeepStrictEqual(got, this.events)) return [];
    const firstDiff = got.findIndex((e, i) => !isDeepStrictEqual(e, this.events[i]));
    const at = firstDiff === -1 ? Math.min(got.length, this.events.length) : firstDiff;
    return [
      `device received ${got.length} events, expected ${this.events.length}; first difference at #${at}: got ${JSON.stringify(got[at])}, expected ${JSON.stringify(this.events[at])}`,
    ];
  }
}
