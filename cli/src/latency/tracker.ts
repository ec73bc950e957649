/**
 * Matches the events every device receives to the writes that caused them, and turns arrivals into
 * latencies and correctness counts. One process, one monotonic clock (`performance.now()`): a
 * write's `due` time and a device's `receivedAt` are on the same clock, so no skew is involved.
 *
 * Matching is by `seq`: every write response carries the seq of the last event it emitted, and a
 * write's events are consecutive (the user's log is locked for the transaction). Events that
 * arrive before their write's response are held as orphans and matched when the response comes.
 *
 * Latency of a write on one observer = arrival of its last event there − the write's scheduled
 * time. A write counts as fast only if every observer got it fast: the headline histogram records
 * the maximum over observers. Device 0 of each user is the writer: it is checked for correctness
 * (it must get its own echoes too) but not timed.
 *
 * The device client delivers each stored event once, in seq order; what it drops (duplicates,
 * expected resends, frames discarded from a full hold) reaches `onDropped` with the parsed event,
 * so a foreign event is counted as cross-user whatever the device did with it.
 *
 * `finish()` closes the books: every write still without a response is a failed write, and the
 * tracker is frozen, so nothing that arrives later (devices closing, cleanup) changes a count.
 */
import type { DeviceEvent } from '../../../client/src/realtime.js';
import { bucketIndex, BUCKETS_MS, createHistogram, recordMs, type Histogram } from './stats.js';
import type { WriteKind } from './options.js';

export interface WriteRecord {
  n: number;
  user: number;
  kind: WriteKind;
  /** Scheduled time (performance.now() clock). */
  due: number;
  warmup: boolean;
  /** Entity ids the write touched (drafts, pending orders): a foreign user must never see them. */
  ids: string[];
  /** Events the write emitted, known once its response came back; null before. */
  expected: { seq: number; type: string }[] | null;
  /** device index → seq → receivedAt. */
  got: Map<number, Map<number, number>>;
  done: boolean;
}

export interface Correctness {
  writesOk: number;
  writesFailed: number;
  expectedDeliveries: number;
  delivered: number;
  missing: number;
  duplicates: number;
  outOfOrder: number;
  crossUser: number;
  /** Events no write of ours explains (or of another type than the write emitted). */
  unexpected: number;
  /** Events of writes whose response never came (the connection failed after the server committed). */
  ofFailedWrites: number;
  resyncs: number;
  reconnects: number;
}

interface Arrival {
  device: number;
  type: string;
  at: number;
  ids: string[];
}

interface UserState {
  bySeq: Map<number, WriteRecord>;
  orphans: Map<number, Arrival[]>;
}

/** Why a device dropped a frame instead of delivering it. */
export type DropReason = 'duplicate' | 'resent' | 'discarded';

export interface TrackerOptions {
  users: number;
  devices: number;
  /** Called for every measured (post-warm-up) write latency, for the live view. */
  onSample?: (ms: number, at: number) => void;
}

export class Tracker {
  readonly delivery = createHistogram();
  readonly rest = createHistogram();
  readonly byType = new Map<string, Histogram>();
  /** key `user:device` (observers only). */
  readonly byDevice = new Map<string, Histogram>();
  readonly buckets = new Array<number>(BUCKETS_MS.length).fill(0);
  readonly counts: Correctness = {
    writesOk: 0,
    writesFailed: 0,
    expectedDeliveries: 0,
    delivered: 0,
    missing: 0,
    duplicates: 0,
    outOfOrder: 0,
    crossUser: 0,
    unexpected: 0,
    ofFailedWrites: 0,
    resyncs: 0,
    reconnects: 0,
  };
  readonly failures: string[] = [];
  /** Per second of scheduled time (performance.now() / 1000, floored): measured writes and their worst latency. */
  readonly timeline = new Map<number, { writes: number; maxMs: number; sumMs: number }>();
  private readonly userStates: UserState[];
  private readonly idOwner = new Map<string, number>();
  private readonly failedIds = new Set<string>();
  private readonly writes: WriteRecord[] = [];
  private pendingWrites = 0;
  /** `user:device:seq` of foreign frames already counted (a dropped copy is not counted again). */
  private readonly foreignSeen = new Set<string>();
  private frozen = false;

  constructor(private readonly opts: TrackerOptions) {
    this.userStates = Array.from({ length: opts.users }, () => ({ bySeq: new Map(), orphans: new Map() }));
  }

  /** Writes whose events are not yet all delivered to every device. */
  get outstanding(): number {
    return this.pendingWrites;
  }

  /** A write is about to be sent: remember which ids belong to which user. */
  register(rec: WriteRecord): void {
    if (this.frozen) return;
    for (const id of rec.ids) this.idOwner.set(id, rec.user);
    this.writes.push(rec);
    this.pendingWrites += 1;
  }

  /** Ids learnt from a response (e.g. the pending order a convert created). */
  own(user: number, ids: readonly string[]): void {
    if (this.frozen) return;
    for (const id of ids) this.idOwner.set(id, user);
  }

  /** The response came: `types` are the event types the write emitted, in order, the last with `lastSeq`. */
  resolve(rec: WriteRecord, lastSeq: number | null, types: string[], restMs: number): void {
    if (this.frozen) return;
    if (!rec.warmup) recordMs(this.rest, restMs);
    this.counts.writesOk += 1;
    if (lastSeq === null || types.length === 0) {
      rec.expected = [];
      this.complete(rec);
      return;
    }
    const u = this.userStates[rec.user]!;
    rec.expected = types.map((type, i) => ({ seq: lastSeq - types.length + 1 + i, type }));
    for (const e of rec.expected) {
      u.bySeq.set(e.seq, rec);
      const held = u.orphans.get(e.seq);
      if (held) {
        u.orphans.delete(e.seq);
        for (const a of held) this.arrive(rec, e.seq, e.type, a);
      }
    }
  }

  fail(rec: WriteRecord, reason: string): void {
    if (this.frozen) return;
    this.counts.writesFailed += 1;
    for (const id of rec.ids) this.failedIds.add(id);
    if (this.failures.length < 20) this.failures.push(reason);
    rec.expected = [];
    this.complete(rec);
  }

  /**
   * An event the device delivered. The device guarantees seq order without duplicates within an
   * epoch (and says `resync` when the epoch changes), so order and duplicates are not re-checked
   * here: they come through onGap and onDropped.
   */
  onEvent(user: number, device: number, e: DeviceEvent): void {
    if (this.frozen) return;
    const ids = idsOf(e.payload);
    if (this.foreign(user, device, e, ids)) return;
    if (e.seq === null) return; // transient: not in the log, not matched to a write
    const u = this.userStates[user]!;
    const rec = u.bySeq.get(e.seq);
    const arrival = { device, type: e.type, at: e.receivedAt, ids };
    if (!rec) {
      const held = u.orphans.get(e.seq) ?? [];
      held.push(arrival);
      u.orphans.set(e.seq, held);
      return;
    }
    this.arrive(rec, e.seq, rec.expected!.find((x) => x.seq === e.seq)!.type, arrival);
  }

  /**
   * A frame the device dropped. A foreign one is cross-user (checked first: a foreign event whose
   * seq the device had already passed is dropped as a duplicate); else only a true duplicate counts.
   * An expected resend (the answer to the device's RESUME) and a frame discarded from a full hold
   * (the resume sends it again) are not errors.
   */
  onDropped(user: number, device: number, e: DeviceEvent, reason: DropReason): void {
    if (this.frozen) return;
    if (this.foreign(user, device, e, idsOf(e.payload))) return;
    if (reason === 'duplicate') this.counts.duplicates += 1;
  }
  /** The device saw a frame ahead of a missing seq (out of order, or lost and re-requested). */
  onGap(): void {
    if (!this.frozen) this.counts.outOfOrder += 1;
  }
  onResync(): void {
    if (!this.frozen) this.counts.resyncs += 1;
  }
  onReconnect(): void {
    if (!this.frozen) this.counts.reconnects += 1;
  }

  /** True (and counted once per device and seq) when the event names an id another synthetic user wrote. */
  private foreign(user: number, device: number, e: DeviceEvent, ids: readonly string[]): boolean {
    if (!ids.some((id) => (this.idOwner.get(id) ?? user) !== user)) return false;
    const key = `${user}:${device}:${e.seq ?? `t${e.receivedAt}`}`;
    if (!this.foreignSeen.has(key)) {
      this.foreignSeen.add(key);
      this.counts.crossUser += 1;
    }
    return true;
  }

  private arrive(rec: WriteRecord, seq: number, expectedType: string, a: Arrival): void {
    if (a.type !== expectedType) {
      this.counts.unexpected += 1;
      return;
    }
    let got = rec.got.get(a.device);
    if (!got) rec.got.set(a.device, (got = new Map()));
    got.set(seq, a.at);
    if (!rec.done && this.allDelivered(rec)) this.complete(rec);
  }

  private allDelivered(rec: WriteRecord): boolean {
    const need = rec.expected!.length;
    for (let d = 0; d < this.opts.devices; d += 1) if ((rec.got.get(d)?.size ?? 0) < need) return false;
    return true;
  }

  private complete(rec: WriteRecord): void {
    if (rec.done) return;
    rec.done = true;
    this.pendingWrites -= 1;
    if (rec.warmup || rec.expected!.length === 0) return;
    this.record(rec);
  }

  /** Record the latencies of a write whose events reached every observer. */
  private record(rec: WriteRecord): void {
    let worst = 0;
    for (let d = 1; d < this.opts.devices; d += 1) {
      const got = rec.got.get(d);
      if (!got || got.size < rec.expected!.length) return; // missing somewhere: counted in finish(), not timed
      let last = 0;
      for (const at of got.values()) last = Math.max(last, at);
      const ms = last - rec.due;
      worst = Math.max(worst, ms);
      const key = `${rec.user}:${d}`;
      let h = this.byDevice.get(key);
      if (!h) this.byDevice.set(key, (h = createHistogram()));
      recordMs(h, ms);
    }
    for (const e of rec.expected!) {
      let typeWorst = 0;
      for (let d = 1; d < this.opts.devices; d += 1) typeWorst = Math.max(typeWorst, rec.got.get(d)!.get(e.seq)! - rec.due);
      let h = this.byType.get(e.type);
      if (!h) this.byType.set(e.type, (h = createHistogram()));
      recordMs(h, typeWorst);
    }
    recordMs(this.delivery, worst);
    this.buckets[bucketIndex(worst)]! += 1;
    const second = Math.floor(rec.due / 1000);
    const slot = this.timeline.get(second) ?? { writes: 0, maxMs: 0, sumMs: 0 };
    slot.writes += 1;
    slot.maxMs = Math.max(slot.maxMs, worst);
    slot.sumMs += worst;
    this.timeline.set(second, slot);
    this.opts.onSample?.(worst, rec.due + worst);
  }

  /**
   * The run is over (after the drain): a write still without a response failed; time what is
   * complete on the observers, count what is missing on any device (writer included), and events
   * nothing explains. Then freeze: later calls change nothing.
   */
  finish(): void {
    if (this.frozen) return;
    for (const rec of this.writes) {
      if (rec.expected === null) {
        this.fail(rec, `${rec.kind} #${rec.n}: no response by the end of the drain`);
        continue;
      }
      const need = rec.expected.length;
      this.counts.expectedDeliveries += need * this.opts.devices;
      for (let d = 0; d < this.opts.devices; d += 1) {
        const have = rec.got.get(d)?.size ?? 0;
        this.counts.delivered += have;
        this.counts.missing += need - have;
      }
      if (!rec.done) {
        rec.done = true;
        this.pendingWrites -= 1;
        if (!rec.warmup) this.record(rec);
      }
    }
    // Orphans: events whose write never got a response. A write that failed on the wire may still
    // have committed; its events are counted apart (the failed write already fails the run).
    for (const u of this.userStates) {
      for (const held of u.orphans.values()) {
        for (const a of held) {
          if (a.ids.some((id) => this.failedIds.has(id))) this.counts.ofFailedWrites += 1;
          else this.counts.unexpected += 1;
        }
      }
    }
    this.frozen = true;
  }
}

/** Every entity id an event payload names (drafts, pending orders, jobs' orders). */
export function idsOf(payload: unknown): string[] {
  if (!payload || typeof payload !== 'object') return [];
  const p = payload as Record<string, unknown>;
  const out: string[] = [];
  for (const k of ['draftId', 'pendingOrderId', 'orderId']) if (typeof p[k] === 'string') out.push(p[k]);
  if (Array.isArray(p.orderIds)) for (const id of p.orderIds) if (typeof id === 'string') out.push(id);
  return out;
}
