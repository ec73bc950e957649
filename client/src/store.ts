/**
 * The local store of drafts and pending orders (DESIGN §11): a snapshot with its `seq`, then
 * stored events applied strictly in `seq` order, one at a time. An event that needs the network
 * (PENDING_CREATED/UPDATED name ids only) holds every later one until its batch read answered.
 * A hole is held until filled; if it is not filled in time the lists are refetched (never a
 * silent hole). What subscribers see is the view: server truth plus the queued writes (see
 * store-rules.ts); they are told only when what they see changed, so an own echo of a write
 * already shown is not notified twice.
 */
import type { Draft, PendingOrder } from '../../service/src/protocol/index.js';
import { Emitter } from './emitter.js';
import { isRetryable, type RestClient } from './rest.js';
import { applyAck, applyEvent, applyFetched, applyRefusal, deriveView, emptyState, type ServerState, type View } from './store-rules.js';
import type { Change, ClientErrorInfo, ClientEvent, ResyncInfo, Subscriber, WriteOp } from './types.js';

export interface StoreSnapshot {
  format: 1;
  seq: number;
  epoch: string | null;
  drafts: Draft[];
  pending: PendingOrder[];
  pendingFresh: [string, number][];
  pendingFloor: number;
}

export interface StoreEvents {
  /** A stored event was applied (once each, in seq order). */
  event: ClientEvent & { seq: number };
  /** The lists were refetched (after RESYNC_REQUIRED or an unfilled hole). */
  resync: ResyncInfo;
  error: ClientErrorInfo;
  /** Server truth, seq or epoch changed: time to persist. */
  change: void;
}

export interface StoreOptions {
  rest: Pick<RestClient, 'drafts' | 'pendingOrders'>;
  /** Shown as the origin of optimistic records. */
  deviceId?: string | null;
  retry?: { initialMs?: number; maxMs?: number };
  /** A hole not filled within this long makes the store refetch. Default 10 s. */
  holeTimeoutMs?: number;
  random?: () => number;
}

export interface Collection<T> {
  /** Visible records (no tombstones), in id order. */
  list(): T[];
  /** One record; for drafts a tombstone too (`deleted`, `convertedTo`), so a converted draft can be followed. */
  get(id: string): T | undefined;
  subscribe(cb: Subscriber<T>): () => void;
}

class Stopped extends Error {}

export class Store extends Emitter<StoreEvents> {
  private server: ServerState = emptyState();
  private ops: readonly WriteOp[] = [];
  private view: View = { drafts: new Map(), pending: new Map() };
  private seq_: number | null = null;
  private epoch_: string | null = null;
  private held = new Map<number, ClientEvent & { seq: number }>();
  private holeTimer: ReturnType<typeof setTimeout> | undefined;
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly subs = { drafts: new Set<Subscriber<Draft>>(), pending: new Set<Subscriber<PendingOrder>>() };
  readonly drafts: Collection<Draft>;
  readonly pendingOrders: Collection<PendingOrder>;

  constructor(private readonly opts: StoreOptions) {
    super();
    this.drafts = this.collection<Draft>('drafts', (d) => !d.deleted);
    this.pendingOrders = this.collection<PendingOrder>('pending', () => true);
  }

  /** Last applied seq; null until a snapshot (fetched or loaded). */
  get seq(): number | null {
    return this.seq_;
  }
  get epoch(): string | null {
    return this.epoch_;
  }

  setEpoch(epoch: string): void {
    if (epoch === this.epoch_) return;
    this.epoch_ = epoch;
    this.emit('change', undefined);
  }

  /** Start from a persisted snapshot instead of fetching. */
  load(s: StoreSnapshot): void {
    this.server = {
      drafts: new Map(s.drafts.map((d) => [d.id, d])),
      pending: new Map(s.pending.map((o) => [o.id, o])),
      pendingFresh: new Map(s.pendingFresh),
      pendingFloor: s.pendingFloor,
    };
    this.seq_ = s.seq;
    this.epoch_ = s.epoch;
    this.refresh({ source: 'snapshot' });
  }

  toSnapshot(): StoreSnapshot | null {
    if (this.seq_ === null) return null;
    return {
      format: 1,
      seq: this.seq_,
      epoch: this.epoch_,
      drafts: [...this.server.drafts.values()],
      pending: [...this.server.pending.values()],
      pendingFresh: [...this.server.pendingFresh],
      pendingFloor: this.server.pendingFloor,
    };
  }

  /**
   * Fetch both lists and continue from their seq. Queued behind events already pushed. `epoch`
   * (of a RESYNC_REQUIRED) is adopted together with the lists, never before: a state persisted
   * in between must not pair the old lists with the new epoch.
   */
  refetch(reason: string, epoch?: string): Promise<void> {
    return this.enqueue(async () => {
      const [d, p] = await Promise.all([
        this.retrying(() => this.opts.rest.drafts.list({ includeDeleted: true })),
        this.retrying(() => this.opts.rest.pendingOrders.list()),
      ]);
      this.server = {
        drafts: new Map(d.items.map((x) => [x.id, x])),
        pending: new Map(p.items.map((x) => [x.id, x])),
        pendingFresh: new Map(),
        pendingFloor: p.seq,
      };
      // Events above the lower of the two are applied: the other list is merged idempotently
      // (drafts by version with tombstones, orders by freshness), so nothing counts twice.
      this.seq_ = Math.min(d.seq, p.seq);
      if (epoch !== undefined) this.epoch_ = epoch;
      for (const s of [...this.held.keys()]) if (s <= this.seq_) this.held.delete(s);
      this.refresh({ source: 'snapshot' });
      this.emit('change', undefined);
      if (reason !== 'initial') this.emit('resync', { reason, seq: this.seq_, epoch: this.epoch_ });
      await this.drain();
    });
  }

  /** A stored event from the device, in any order: applied in seq order, once. */
  push(e: ClientEvent & { seq: number }): Promise<void> {
    return this.enqueue(async () => {
      if (this.seq_ !== null && e.seq <= this.seq_) return; // in the snapshot already
      this.held.set(e.seq, e);
      await this.drain();
    });
  }

  /** The queued writes changed (a write was made, or refused: then the view rolls back exactly). */
  setQueue(ops: readonly WriteOp[], source: 'write' | 'rollback', refusal?: { body: unknown }): void {
    if (refusal) applyRefusal(this.server, refusal.body);
    this.ops = ops;
    this.refresh({ source });
    if (refusal) this.emit('change', undefined);
  }

  /** A write was acknowledged: its answer becomes server truth, and it leaves the queue, in one step. */
  commitAck(op: WriteOp, body: unknown, remaining: readonly WriteOp[]): void {
    applyAck(this.server, op, body);
    this.ops = remaining;
    this.refresh({ source: 'ack' });
    this.emit('change', undefined);
    if (op.kind === 'pending.upsert') {
      // The answer has no records: read the exact ones now, so the echo needs no read of its own.
      const ids = op.orders.map((o) => o.id);
      const ackSeq = (body as { seq?: number }).seq ?? -1;
      this.enqueue(async () => {
        const r = await this.opts.rest.pendingOrders.getMany(ids).catch(() => null);
        if (!r) return; // the echo's read will fix it
        applyFetched(this.server, ids, r.items, r.seq ?? ackSeq);
        this.refresh({ source: 'ack' });
        this.emit('change', undefined);
      }).catch(() => undefined);
    }
  }

  /** Resolves once everything pushed so far is applied. */
  idle(): Promise<void> {
    return this.chain;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.holeTimer);
  }

  // ---- internals ----

  /** Run `task` after everything queued before it. The returned promise rejects if it fails; the chain goes on. */
  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.chain.then(() => (this.stopped ? undefined : task()));
    this.chain = run.catch((err: unknown) => {
      if (err instanceof Stopped) return;
      this.emit('error', { source: 'sync', message: `Store update failed: ${(err as Error)?.message ?? err}`, fatal: false, error: err });
    });
    return run.catch((err: unknown) => {
      if (!(err instanceof Stopped)) throw err;
    });
  }

  /** Apply held events while the next one is there. Without a snapshot yet, hold everything. */
  private async drain(): Promise<void> {
    while (this.seq_ !== null) {
      const next = this.held.get(this.seq_ + 1);
      if (!next) break;
      this.held.delete(next.seq);
      await this.apply(next);
    }
    clearTimeout(this.holeTimer);
    this.holeTimer = undefined;
    if (this.held.size > 0 && this.seq_ !== null) {
      // A hole the device did not fill: refetch rather than wait forever.
      this.holeTimer = setTimeout(() => void this.refetch('gap').catch(() => undefined), this.opts.holeTimeoutMs ?? 10_000);
    }
  }

  private async apply(e: ClientEvent & { seq: number }): Promise<void> {
    const r = applyEvent(this.server, e);
    if (r.fetch) {
      const ids = r.fetch;
      const got = await this.retrying(() => this.opts.rest.pendingOrders.getMany(ids));
      applyFetched(this.server, ids, got.items, got.seq ?? e.seq);
    }
    this.seq_ = e.seq;
    this.refresh({ source: 'event', eventType: e.type });
    this.emit('change', undefined);
    this.emit('event', e);
  }

  /** Retry reads on network errors and 5xx with backoff and jitter, until they answer or the store stops. */
  private async retrying<T>(fn: () => Promise<T>): Promise<T> {
    const initial = this.opts.retry?.initialMs ?? 500;
    const max = this.opts.retry?.maxMs ?? 30_000;
    for (let attempt = 0; ; attempt += 1) {
      if (this.stopped) throw new Stopped();
      try {
        return await fn();
      } catch (err) {
        if (!isRetryable(err) || this.stopped) throw this.stopped ? new Stopped() : err;
        const base = Math.min(max, initial * 2 ** Math.min(attempt, 20));
        await new Promise((res) => setTimeout(res, base / 2 + (base / 2) * (this.opts.random ?? Math.random)()));
      }
    }
  }

  /** Derive the view again and tell each collection's subscribers which visible records changed. */
  private refresh(change: Omit<Change, 'ids'>): void {
    const before = this.view;
    this.view = deriveView(this.server, this.ops, this.opts.deviceId ?? null);
    const changedDrafts = changedIds(before.drafts, this.view.drafts);
    const changedPending = changedIds(before.pending, this.view.pending);
    if (changedDrafts.length > 0) this.notify('drafts', { ...change, ids: changedDrafts });
    if (changedPending.length > 0) this.notify('pending', { ...change, ids: changedPending });
  }

  private notify(which: 'drafts' | 'pending', change: Change): void {
    const subs = this.subs[which] as Set<Subscriber<unknown>>;
    if (subs.size === 0) return;
    const items = which === 'drafts' ? this.drafts.list() : this.pendingOrders.list();
    for (const cb of [...subs]) {
      try {
        cb(items, change);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  private collection<T extends { id: string }>(which: 'drafts' | 'pending', visible: (x: T) => boolean): Collection<T> {
    const map = () => this.view[which] as unknown as Map<string, T>;
    return {
      list: () => [...map().values()].filter(visible).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
      get: (id) => map().get(id),
      subscribe: (cb) => {
        const set = this.subs[which] as unknown as Set<Subscriber<T>>;
        set.add(cb);
        return () => void set.delete(cb);
      },
    };
  }
}

function changedIds<T>(a: Map<string, T>, b: Map<string, T>): string[] {
  const ids: string[] = [];
  for (const [id, x] of b) {
    const y = a.get(id);
    if (y !== x && (y === undefined || JSON.stringify(x) !== JSON.stringify(y))) ids.push(id);
  }
  for (const id of a.keys()) if (!b.has(id)) ids.push(id);
  return ids;
}

export function createStore(opts: StoreOptions): Store {
  return new Store(opts);
}
