/**
 * The offline queue (DESIGN §10, §11, §12). Every write goes through it, online or not, so writes
 * reach the server in the order they were made:
 * - enqueued → shown at once (the store derives its view from server truth + this queue) and
 *   persisted (the caller persists on `change`);
 * - sent one at a time, head first, always with the same Idempotency-Key, so a write whose answer
 *   was lost lands once (the server answers the repeat from its record);
 * - no answer, 5xx, 408, 429 or IDEMPOTENCY_KEY_IN_USE: kept at the head, retried after a backoff
 *   with jitter (or at once on `kick()`, e.g. when the socket is back); an answer with
 *   `Retry-After` (429 over a rate limit, 503) is retried after that delay instead, and `kick()`
 *   does not cut it short: the server said when it takes the request again;
 * - another 4xx: dropped, its promise rejects with the ApiError, and the view rolls back exactly;
 * - acknowledged: the answer becomes server truth and the promise resolves with the server's record.
 * Entries loaded after a reload have no promise, but are replayed the same way.
 */
import { Emitter } from './emitter.js';
import { ApiError, isRetryable, requestFor, type RestClient } from './rest.js';
import type { Store } from './store.js';
import { targetsOf } from './store-rules.js';
import type { PendingWrite, WriteOp } from './types.js';

export interface OutboxEntry {
  key: string;
  op: WriteOp;
  enqueuedAt: string;
  attempts: number;
  lastError: PendingWrite['lastError'];
}

export interface OutboxEvents {
  /** The queue or its state changed: persist, update the status. */
  change: void;
  /** A write the server refused (4xx): dropped and rolled back. */
  rejected: { entry: OutboxEntry; error: unknown };
  /** A write acknowledged; `replayed` when the server answered from its idempotency record. */
  acked: { entry: OutboxEntry; status: number; replayed: boolean };
}

export interface OutboxOptions {
  rest: Pick<RestClient, 'request'>;
  store: Pick<Store, 'setQueue' | 'commitAck'>;
  retry?: { initialMs?: number; maxMs?: number };
  random?: () => number;
}

interface Waiter {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class Outbox extends Emitter<OutboxEvents> {
  private queue: OutboxEntry[] = [];
  private readonly waiters = new Map<string, Waiter>();
  private running = false;
  private stopped = false;
  private failing_ = false;
  private wake: (() => void) | null = null;
  /** The current wait is a server's Retry-After: `kick()` leaves it alone. */
  private waitIsServers = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inflight: AbortController | null = null;
  private failures = 0;

  constructor(private readonly opts: OutboxOptions) {
    super();
  }

  /** True while the last attempt failed for a reason worth retrying (offline, 5xx). */
  get failing(): boolean {
    return this.failing_;
  }

  get entries(): readonly OutboxEntry[] {
    return this.queue;
  }

  get pendingWrites(): PendingWrite[] {
    return this.queue.map((e) => ({
      key: e.key,
      kind: e.op.kind,
      targets: targetsOf(e.op),
      enqueuedAt: e.enqueuedAt,
      attempts: e.attempts,
      lastError: e.lastError,
    }));
  }

  /** Entries persisted before a reload: shown at once, replayed by the next `kick()`. */
  load(entries: readonly OutboxEntry[]): void {
    this.queue = entries.map((e) => ({ ...e }));
    this.opts.store.setQueue(this.ops(), 'write');
    this.emit('change', undefined);
  }

  /** Queue a write. Resolves with the server's answer once acknowledged; rejects with the ApiError of a 4xx. */
  enqueue<T = unknown>(op: WriteOp, key: string = crypto.randomUUID()): Promise<T> {
    if (this.stopped) return Promise.reject(new Error('client stopped'));
    const entry: OutboxEntry = { key, op, enqueuedAt: new Date().toISOString(), attempts: 0, lastError: null };
    const done = new Promise<T>((resolve, reject) => this.waiters.set(key, { resolve: resolve as (v: unknown) => void, reject }));
    this.queue.push(entry);
    this.opts.store.setQueue(this.ops(), 'write');
    this.emit('change', undefined);
    this.kick();
    return done;
  }

  /** Send now: ends the current backoff wait, or starts the loop. */
  kick(): void {
    if (this.stopped) return;
    if (this.wake) {
      if (this.waitIsServers) return;
      this.failures = 0;
      const w = this.wake;
      this.wake = null;
      clearTimeout(this.timer);
      w();
    } else if (!this.running) {
      void this.run();
    }
  }

  /** Stop sending; an in-flight request is aborted and stays queued (its key makes the later replay safe). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.inflight?.abort();
    this.wake?.();
    for (const w of this.waiters.values()) w.reject(new ApiError(0, 'STOPPED', 'Client stopped before the write was acknowledged; it stays queued'));
    this.waiters.clear();
  }

  private ops(): WriteOp[] {
    return this.queue.map((e) => e.op);
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (!this.stopped && this.queue.length > 0) {
        const entry = this.queue[0]!;
        this.inflight = new AbortController();
        try {
          entry.attempts += 1;
          const res = await this.opts.rest.request(requestFor(entry.op), { idempotencyKey: entry.key, signal: this.inflight.signal });
          this.queue.shift();
          this.failures = 0;
          this.failing_ = false;
          this.opts.store.commitAck(entry.op, res.body, this.ops());
          this.emit('acked', { entry, status: res.status, replayed: res.replayed });
          this.emit('change', undefined);
          this.settle(entry.key, null, resultOf(entry.op, res.body));
        } catch (err) {
          if (this.stopped) break;
          if (isRetryable(err)) {
            const e = err as ApiError;
            entry.lastError = { status: e.status, code: e.code, message: e.message };
            this.failing_ = true;
            this.emit('change', undefined);
            await (e.retryAfterMs !== undefined ? this.wait(e.retryAfterMs, true) : this.backoff());
            continue;
          }
          this.queue.shift();
          this.failing_ = false;
          this.opts.store.setQueue(this.ops(), 'rollback', err instanceof ApiError ? { body: err.body } : undefined);
          this.emit('rejected', { entry, error: err });
          this.emit('change', undefined);
          this.settle(entry.key, err, undefined);
        }
      }
    } finally {
      this.inflight = null;
      this.running = false;
    }
  }

  private settle(key: string, err: unknown, value: unknown): void {
    const w = this.waiters.get(key);
    this.waiters.delete(key);
    if (!w) return;
    if (err) w.reject(err);
    else w.resolve(value);
  }

  /** Exponential with jitter: attempt n waits between half and all of min(max, initial·2ⁿ). */
  private backoff(): Promise<void> {
    const initial = this.opts.retry?.initialMs ?? 500;
    const max = this.opts.retry?.maxMs ?? 30_000;
    const base = Math.min(max, initial * 2 ** Math.min(this.failures, 20));
    this.failures += 1;
    return this.wait(base / 2 + (base / 2) * (this.opts.random ?? Math.random)(), false);
  }

  /** Wait `delayMs`; `kick()` ends it early unless it is the server's (Retry-After); `stop()` always does. */
  private wait(delayMs: number, servers: boolean): Promise<void> {
    this.waitIsServers = servers;
    return new Promise((resolve) => {
      const done = () => {
        this.wake = null;
        this.waitIsServers = false;
        resolve();
      };
      this.wake = done;
      this.timer = setTimeout(done, delayMs);
    });
  }
}

/** What a write's promise resolves with: the server's draft for draft writes, else the answer's body. */
function resultOf(op: WriteOp, body: unknown): unknown {
  if (op.kind === 'draft.create' || op.kind === 'draft.update' || op.kind === 'draft.remove') return (body as { draft: unknown }).draft;
  return body;
}

export function createOutbox(opts: OutboxOptions): Outbox {
  return new Outbox(opts);
}
