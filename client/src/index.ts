/**
 * `createClient`: the one client of the service for the agents' frontend, rtctl, load tests and
 * test suites (DESIGN §11). It ties together the REST client (rest.ts), the store of drafts and
 * pending orders (store.ts), the offline queue (outbox.ts), the realtime device (realtime.ts) and
 * a storage adapter. No Node-only API: the WebSocket class, fetch and storage are injected or
 * taken from globalThis. Node: see node.ts (`createNodeClient`); browsers: browser.ts.
 *
 * The guarantee: every stored event reaches `on('event')` and the lists once, in seq order; when
 * that is impossible the lists are refetched and `on('resync')` says so. Never a silent hole.
 */
import type { Draft, PendingOrder } from '../../service/src/protocol/index.js';
import { Emitter } from './emitter.js';
import { createOutbox, type Outbox, type OutboxEntry } from './outbox.js';
import { Device } from './realtime.js';
import type { WebSocketConstructor } from './realtime.js';
import { ApiError, createRestClient, draftBody, orderBody, type ConvertResponse, type RestClient, type UpsertResponse } from './rest.js';
import type { KeyValueStorage } from './storage.js';
import { createIndexedDbStorage } from './storage-indexeddb.js';
import { createLocalStorage } from './storage-local.js';
import { createMemoryStorage } from './storage-memory.js';
import { Store, type StoreSnapshot } from './store.js';
import { nextUpdatedAt } from './store-rules.js';
import type {
  ClientEvents,
  ClientOptions,
  ClientStatus,
  DraftInput,
  DraftPatch,
  PendingOrderInput,
  PendingWrite,
  Subscriber,
} from './types.js';

export * from './types.js';
export { ApiError, createRestClient, isRetryable, requestFor } from './rest.js';
export type { ApiResponse, ConvertResponse, DraftWriteResponse, JobView, ListResponse, RequestOptions, RestClient, RestClientOptions, UpsertResponse } from './rest.js';
export { Device, createDevice, realtimeUrl } from './realtime.js';
export type { DeviceEvent, DeviceOptions, WebSocketConstructor, WebSocketLike } from './realtime.js';
export type { KeyValueStorage } from './storage.js';
export { createMemoryStorage } from './storage-memory.js';
export { createLocalStorage } from './storage-local.js';
export { createIndexedDbStorage } from './storage-indexeddb.js';
export type { OutboxEntry } from './outbox.js';
export type { StoreSnapshot } from './store.js';

/** What is persisted, under one key: a reload resumes from it instead of refetching. */
interface Persisted {
  format: 1;
  store: StoreSnapshot | null;
  outbox: OutboxEntry[];
}

export interface WriteOptions {
  /** Reuse a key to make a retry of your own idempotent across calls; default a fresh UUID. */
  idempotencyKey?: string;
}

export class RealtimeClient extends Emitter<ClientEvents> {
  readonly deviceId: string;
  /** The REST client this one uses (reads like `rest.jobs.get(id)` go straight to the server). */
  readonly rest: RestClient;
  private readonly store: Store;
  private readonly outbox: Outbox;
  private device: Device | null = null;
  private storage: KeyValueStorage | null = null;
  private ownsStorage = false;
  private storageKey = '';
  private socket: 'connecting' | 'open' | 'down' = 'connecting';
  private stopped = false;
  private started: Promise<void> | null = null;
  private lastStatus: { status: ClientStatus; pendingWrites: number } | null = null;
  private dirty = false;
  private saving: Promise<void> | null = null;
  private primedToken: string | null = null;

  constructor(private readonly opts: ClientOptions) {
    super();
    this.deviceId = opts.deviceId;
    this.rest = createRestClient({
      url: opts.url,
      deviceId: opts.deviceId,
      getToken: () => this.token(),
      fetch: opts.fetch,
      timeoutMs: opts.requestTimeoutMs,
    });
    this.store = new Store({ rest: this.rest, deviceId: opts.deviceId, retry: opts.retry, random: opts.random });
    this.outbox = createOutbox({ rest: this.rest, store: this.store, retry: opts.retry, random: opts.random });
    this.store.on('event', (e) => this.emit('event', { ...e }));
    this.store.on('resync', (r) => this.emit('resync', r));
    this.store.on('error', (e) => this.emit('error', e));
    this.store.on('change', () => this.persist());
    this.outbox.on('change', () => {
      this.persist();
      this.updateStatus();
    });
    this.outbox.on('rejected', ({ entry, error }) =>
      this.emit('error', { source: 'write', message: `${entry.op.kind} refused: ${(error as Error)?.message ?? error}`, fatal: false, error }),
    );
  }

  get status(): ClientStatus {
    if (this.stopped) return 'stopped';
    if (this.outbox.failing || this.socket === 'down') return 'offline';
    return this.socket === 'open' ? 'live' : 'connecting';
  }

  /** Writes queued and not yet acknowledged, oldest first (`.length` is the count). */
  get pendingWrites(): PendingWrite[] {
    return this.outbox.pendingWrites;
  }

  /** The last seq applied to the lists (null before they are loaded). */
  get seq(): number | null {
    return this.store.seq;
  }

  /** The realtime device, once started (counters, hello, lastSeq): for diagnostics. */
  get realtime(): Device | null {
    return this.device;
  }

  /**
   * Load the lists (persisted state, else a fetch with their seq watermark), replay queued writes,
   * then open the socket resuming from that seq. Resolves once the lists are there: while the
   * service is unreachable and nothing is persisted, it keeps retrying. Rejects on a refused token.
   */
  start(): Promise<void> {
    this.started ??= this.doStart();
    return this.started;
  }

  private async doStart(): Promise<void> {
    const token = await this.opts.getToken();
    this.primedToken = token;
    this.storage = this.resolveStorage();
    this.storageKey = `archibald-rt:v1:${this.opts.namespace ?? `${tokenSubject(token) ?? 'anonymous'}:${this.deviceId}`}`;
    const saved = await this.storage.get<Persisted>(this.storageKey).catch(() => undefined);
    if (saved?.format === 1) {
      if (saved.outbox.length > 0) this.outbox.load(saved.outbox);
      if (saved.store) this.store.load(saved.store);
    }
    if (this.store.seq === null) await this.store.refetch('initial');
    if (this.stopped) return;
    this.outbox.kick();
    this.openSocket();
    this.updateStatus();
  }

  private openSocket(): void {
    const WS = this.opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) throw new Error('No WebSocket class: pass `WebSocket` (on Node: createNodeClient from client/src/node.ts)');
    const d = new Device({
      urls: typeof this.opts.url === 'string' ? [this.opts.url] : this.opts.url,
      deviceId: this.deviceId,
      getToken: this.opts.getToken,
      WebSocket: WS,
      auth: this.opts.auth ?? 'query',
      lastSeq: this.store.seq ?? undefined,
      epoch: this.store.epoch ?? undefined,
      backoff: this.opts.reconnect,
      random: this.opts.random,
    });
    this.device = d;
    d.on('hello', (h) => {
      // A first epoch is adopted here; a different one always comes with RESYNC_REQUIRED and is
      // adopted with the refetched lists (see below).
      if (this.store.epoch === null) this.store.setEpoch(h.epoch);
      this.socket = 'open';
      this.updateStatus();
      this.outbox.kick(); // the service answers again: send what is queued now
    });
    d.on('event', (e) => {
      const ev = { type: e.type, payload: e.payload, seq: e.seq, timestamp: e.timestamp, originDeviceId: e.originDeviceId, own: e.own, replayed: e.replayed };
      if (ev.seq === null) this.emit('event', ev); // transient: no state, no order
      else this.store.push({ ...ev, seq: ev.seq }).catch(() => undefined);
    });
    d.on('resync', (r) => {
      this.store.refetch(r.reason, r.epoch).catch(() => undefined);
    });
    d.on('reconnecting', () => {
      this.socket = 'down';
      this.updateStatus();
    });
    d.on('error', (e) => this.emit('error', { source: 'realtime', message: e.message, fatal: e.fatal, error: e }));
    d.on('stopped', () => {
      this.socket = 'down';
      this.updateStatus();
    });
    d.start();
  }

  readonly drafts = {
    list: (): Draft[] => this.store.drafts.list(),
    get: (id: string): Draft | undefined => this.store.drafts.get(id),
    subscribe: (cb: Subscriber<Draft>): (() => void) => this.store.drafts.subscribe(cb),
    /** Shown at once; resolves with the server's draft once acknowledged; rejects with an ApiError on a 4xx (and rolls back). */
    create: (input: DraftInput, o: WriteOptions = {}): Promise<Draft> => {
      const cur = input.id ? this.store.drafts.get(input.id) : undefined;
      const body = draftBody({ ...input, updatedAt: input.updatedAt ?? nextUpdatedAt(cur?.updatedAt) });
      return this.outbox.enqueue<Draft>({ kind: 'draft.create', id: body.id, body }, o.idempotencyKey);
    },
    /** Merges `patch` into the draft as this client sees it; `updatedAt` defaults to now (after the current one). */
    update: (id: string, patch: DraftPatch, o: WriteOptions = {}): Promise<Draft> => {
      const cur = this.store.drafts.get(id);
      if (!cur) return Promise.reject(new ApiError(404, 'NOT_FOUND', 'Draft not found in the local store'));
      if (cur.deleted) return Promise.reject(new ApiError(410, 'GONE', 'Draft was deleted'));
      const body = {
        customerId: patch.customerId ?? cur.customerId,
        customerName: patch.customerName ?? cur.customerName,
        items: patch.items ?? cur.items,
        notes: patch.notes !== undefined ? patch.notes : cur.notes,
        updatedAt: patch.updatedAt ?? nextUpdatedAt(cur.updatedAt),
        ...(patch.baseVersion !== undefined ? { baseVersion: patch.baseVersion } : {}),
      };
      return this.outbox.enqueue<Draft>({ kind: 'draft.update', id, body }, o.idempotencyKey);
    },
    /** Resolves with the tombstone. */
    remove: (id: string, o: WriteOptions = {}): Promise<Draft> =>
      this.outbox.enqueue<Draft>({ kind: 'draft.remove', id, at: new Date().toISOString() }, o.idempotencyKey),
    /** The draft becomes a pending order (the id is the server's: known once acknowledged). */
    convert: (id: string, o: WriteOptions = {}): Promise<ConvertResponse> =>
      this.outbox.enqueue<ConvertResponse>({ kind: 'draft.convert', id, at: new Date().toISOString() }, o.idempotencyKey),
  };

  readonly pendingOrders = {
    list: (): PendingOrder[] => this.store.pendingOrders.list(),
    get: (id: string): PendingOrder | undefined => this.store.pendingOrders.get(id),
    subscribe: (cb: Subscriber<PendingOrder>): (() => void) => this.store.pendingOrders.subscribe(cb),
    /** Batch upsert, one request; resolves with `{ results: [{ id, action }], seq }`. */
    upsert: (orders: PendingOrderInput | readonly PendingOrderInput[], o: WriteOptions = {}): Promise<UpsertResponse> => {
      const list = Array.isArray(orders) ? orders : [orders as PendingOrderInput];
      const bodies = list.map((x) => orderBody({ ...x, updatedAt: x.updatedAt ?? nextUpdatedAt(x.id ? this.store.pendingOrders.get(x.id)?.updatedAt : undefined) }));
      return this.outbox.enqueue<UpsertResponse>({ kind: 'pending.upsert', orders: bodies }, o.idempotencyKey);
    },
    remove: (id: string, o: WriteOptions = {}): Promise<{ seq: number }> =>
      this.outbox.enqueue<{ seq: number }>({ kind: 'pending.remove', id }, o.idempotencyKey),
    /** Queue the order for the ERP; resolves with `{ jobId }` (follow it with job events or `rest.jobs.get`). */
    submit: (id: string, o: WriteOptions = {}): Promise<{ jobId: string }> =>
      this.outbox.enqueue<{ jobId: string }>({ kind: 'pending.submit', id }, o.idempotencyKey),
  };

  /** Close the socket, stop sending (queued writes stay persisted), save the state. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.outbox.stop();
    this.store.stop();
    await this.started?.catch(() => undefined);
    await this.device?.close();
    this.persist();
    await this.saving;
    if (this.ownsStorage) await this.storage?.close?.();
    this.updateStatus();
  }

  private async token(): Promise<string> {
    const t = this.primedToken;
    this.primedToken = null;
    return t ?? (await this.opts.getToken());
  }

  private resolveStorage(): KeyValueStorage {
    const s = this.opts.storage ?? 'memory';
    if (typeof s !== 'string') return s;
    this.ownsStorage = true;
    if (s === 'memory') return createMemoryStorage();
    if (s === 'local') return createLocalStorage();
    return createIndexedDbStorage();
  }

  /** Save the state, coalesced: one write at a time, the latest state last. */
  private persist(): void {
    if (!this.storage) return;
    this.dirty = true;
    this.saving ??= (async () => {
      while (this.dirty) {
        this.dirty = false;
        const value: Persisted = { format: 1, store: this.store.toSnapshot(), outbox: [...this.outbox.entries] };
        await this.storage!.set(this.storageKey, value).catch((err: unknown) =>
          this.emit('error', { source: 'sync', message: `Could not persist the client state: ${(err as Error)?.message ?? err}`, fatal: false, error: err }),
        );
      }
      this.saving = null;
    })();
  }

  private updateStatus(): void {
    const next = { status: this.status, pendingWrites: this.outbox.entries.length };
    if (this.lastStatus && this.lastStatus.status === next.status && this.lastStatus.pendingWrites === next.pendingWrites) return;
    this.lastStatus = next;
    this.emit('status', next);
  }
}

export function createClient(opts: ClientOptions): RealtimeClient {
  return new RealtimeClient(opts);
}

/** The `sub` of a JWT, unverified: only to keep each user's persisted state apart. */
function tokenSubject(token: string): string | null {
  try {
    const part = token.split('.')[1];
    if (!part) return null;
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const json = JSON.parse(atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '='))) as { sub?: unknown };
    return typeof json.sub === 'string' ? json.sub : null;
  } catch {
    return null;
  }
}
