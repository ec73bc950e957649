/**
 * One user's event stream on this instance: the seq handed to the local sockets so far, the ring
 * buffer of recent events, and the ordering of what the bus brings.
 *
 * The bus may deliver a user's events out of order (concurrent requests publish independently):
 * the stream reorders them and, when a seq is missing for `gapFillMs`, reads it from the event log
 * (it is committed: seq N+1 cannot commit before N, the log row lock serializes a user's writes).
 * Every event is handed on once, in seq order, to `fanOut`.
 */
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { BusEvent } from '../ports/bus.js';
import type { LogHead, Storage } from '../ports/storage.js';
import type { Connection, Delivery } from './connection.js';
import { storedToDelivery, toDelivery } from './delivery.js';
import { RingBuffer } from './ring-buffer.js';

export interface UserStreamDeps {
  storage: Storage;
  metrics: Metrics;
  log: Logger;
  gapFillMs: number;
  bufferMaxEvents: number;
  bufferTtlMs: number;
  /** Hand an in-order (or transient) event to the user's sockets. */
  fanOut: (conns: Iterable<Connection>, d: Delivery) => void;
  /** Whether this stream is still the hub's one for its user (a dropped one stops working). */
  isCurrent: (stream: UserStream) => boolean;
  /** The user's log was reset (a new epoch): the hub closes the sockets and drops the stream. */
  onReset: (stream: UserStream) => void;
  /** The hub is shutting down: no new timers. */
  isClosing: () => boolean;
}

export class UserStream {
  readonly conns = new Set<Connection>();
  epoch = '';
  /** Highest seq handed to the local sockets, in order. */
  deliveredSeq = 0;
  ready = false;
  /** Set up by the hub: subscribed to the bus, then the log head read (see `start`). */
  init: Promise<void> = Promise.resolve();
  idleTimer: NodeJS.Timeout | null = null;
  readonly ring: RingBuffer;
  /** Events that arrived before the stream knew its starting seq. */
  private early: Delivery[] = [];
  /** Out-of-order events waiting for the missing seq. */
  private readonly pending = new Map<number, Delivery>();
  private gapTimer: NodeJS.Timeout | null = null;
  /** A check of the log's epoch is under way (an event of another epoch came). */
  private epochCheck = false;

  constructor(
    readonly userId: string,
    private readonly deps: UserStreamDeps,
  ) {
    this.ring = new RingBuffer(deps.bufferMaxEvents, deps.bufferTtlMs);
  }

  /** The log head read after subscribing: anything committed after it arrives on the bus. */
  start(head: LogHead): void {
    this.epoch = head.epoch;
    this.deliveredSeq = head.latestSeq;
    this.ready = true;
    const early = this.early;
    this.early = [];
    for (const d of early) this.ingest(d);
  }

  onBusEvent(e: BusEvent): void {
    if (e.seq !== null && this.ready && e.epoch !== this.epoch) {
      void this.checkEpoch();
      return;
    }
    this.ingest(toDelivery(e));
  }

  ingest(d: Delivery): void {
    if (d.seq === null) {
      this.deps.fanOut(this.conns, d);
      return;
    }
    if (!this.ready) {
      this.early.push(d);
      return;
    }
    if (d.seq <= this.deliveredSeq || this.pending.has(d.seq)) return; // duplicate
    if (d.seq === this.deliveredSeq + 1) {
      this.deliverInOrder(d);
      this.drainPending();
    } else {
      this.pending.set(d.seq, d);
      this.scheduleGapFill();
    }
  }

  /**
   * Re-read the log head and deliver what the bus did not bring (events published while the bus
   * was down). Also the periodic safety net of the outbox relay.
   */
  async fillFromLog(why: string): Promise<void> {
    const { storage, metrics, log } = this.deps;
    const head = await storage.logHead(this.userId);
    if (head.latestSeq <= this.deliveredSeq) return;
    log.info({ userId: this.userId, from: this.deliveredSeq, to: head.latestSeq, why }, 'filling missed events from the log');
    const events = await storage.readEvents(this.userId, this.deliveredSeq, head.latestSeq, head.latestSeq - this.deliveredSeq);
    metrics.gapFills.inc();
    for (const e of events) this.ingest(storedToDelivery(e));
  }

  /** Stop the stream's timers (it is dropped, or the hub closes). */
  stop(): void {
    if (this.gapTimer) clearTimeout(this.gapTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.gapTimer = null;
    this.idleTimer = null;
  }

  summary() {
    return {
      userId: this.userId,
      epoch: this.epoch,
      connections: this.conns.size,
      deliveredSeq: this.deliveredSeq,
      events: this.ring.size,
      bytes: this.ring.bytes,
      firstSeq: this.ring.firstSeq,
      lastSeq: this.ring.lastSeq,
      pendingOutOfOrder: this.pending.size,
    };
  }

  /**
   * An event of another epoch: either a stale one (ignore it) or the user's log was reset (restored,
   * recreated) and this stream, its seqs and its buffer describe a history that is gone. Then the
   * hub closes every local socket with 1011: its device reconnects with the old epoch and gets
   * RESYNC_REQUIRED epoch_changed from a fresh stream, never a silent stall on events it would drop.
   */
  private async checkEpoch(): Promise<void> {
    if (this.epochCheck) return;
    this.epochCheck = true;
    const { log } = this.deps;
    try {
      const head = await this.deps.storage.logHead(this.userId);
      if (head.epoch === this.epoch || !this.deps.isCurrent(this)) return;
      log.warn({ userId: this.userId, from: this.epoch, to: head.epoch }, 'event log epoch changed: closing the user\'s sockets so they resync');
      this.deps.onReset(this);
    } catch (err) {
      log.warn({ err, userId: this.userId }, 'epoch check failed; the event is ignored');
    } finally {
      this.epochCheck = false;
    }
  }

  private deliverInOrder(d: Delivery): void {
    this.deliveredSeq = d.seq!;
    this.ring.push(d as Delivery & { seq: number });
    this.deps.fanOut(this.conns, d);
  }

  private drainPending(): void {
    let next = this.pending.get(this.deliveredSeq + 1);
    while (next) {
      this.pending.delete(next.seq!);
      this.deliverInOrder(next);
      next = this.pending.get(this.deliveredSeq + 1);
    }
    if (this.pending.size === 0 && this.gapTimer) {
      clearTimeout(this.gapTimer);
      this.gapTimer = null;
    }
  }

  private scheduleGapFill(): void {
    if (this.gapTimer || this.deps.isClosing()) return;
    this.gapTimer = setTimeout(() => void this.fillGap(), this.deps.gapFillMs);
  }

  private async fillGap(): Promise<void> {
    this.gapTimer = null;
    if (this.pending.size === 0) return;
    const { storage, metrics, log } = this.deps;
    const firstPending = Math.min(...this.pending.keys());
    const from = this.deliveredSeq;
    try {
      const events = await storage.readEvents(this.userId, from, firstPending - 1, firstPending - 1 - from);
      metrics.gapFills.inc();
      log.debug({ userId: this.userId, from, to: firstPending - 1, found: events.length }, 'filled a gap from the log');
      for (const e of events) this.ingest(storedToDelivery(e));
    } catch (err) {
      log.warn({ err, userId: this.userId }, 'gap fill failed; will retry');
    }
    if (this.pending.size > 0 && this.deps.isCurrent(this)) this.scheduleGapFill();
  }
}
