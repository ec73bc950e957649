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
  /** Seq of the write's first event, known once its response came back. */
  firstSeq: number;
  /** Types of the events the write emitted, in seq order (from `firstSeq`); null before the response. */
  types: string[] | null;
  /**
   * `receivedAt` of each (device, event), device-major (`device * types.length + i`), NaN until it
   * arrived; null before the response. One flat array per write, not a map per device: this is
   * touched by every frame of every device.
   */
  at: number[] | null;
  /** (device, event) deliveries still to come, once the response came. */
  remaining: number;
  done: boolean;
}

/** A write about to be sent, with the tracker's bookkeeping fields empty. */
export function writeRecord(w: Pick<WriteRecord, 'n' | 'user' | 'kind' | 'due' | 'warmup' | 'ids'>): WriteRecord {
  // Every field named, in one order: one object shape for every write (a spread showed in profiles).
  return { n: w.n, user: w.user, kind: w.kind, due: w.due, warmup: w.warmup, ids: w.ids, firstSeq: 0, types: null, at: null, remaining: 0, done: false };
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

/** An event that came before its write's response. */
interface Arrival {
  device: number;
  type: string;
  at: number;
  /** Kept to tell, at the end, the events of a failed write from unexplained ones. */
  payload: unknown;
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
  /** key `user:device` (observers only), in the order they got their first sample. */
  readonly byDevice = new Map<string, Histogram>();
  /**
   * One histogram per observer, built up front (`user * observers + device - 1`): building one (~100 KB of
   * counts) is setup work, not per-write work, so it is not done on the first sample of the run.
   */
  private readonly deviceHistograms: Histogram[] = [];
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
    for (let i = 0; i < opts.users * (opts.devices - 1); i += 1) this.deviceHistograms.push(createHistogram());
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
      rec.types = [];
      this.complete(rec);
      return;
    }
    const u = this.userStates[rec.user]!;
    rec.types = types;
    rec.firstSeq = lastSeq - types.length + 1;
    rec.at = new Array<number>(types.length * this.opts.devices).fill(NaN);
    rec.remaining = rec.at.length;
    for (let i = 0; i < types.length; i += 1) {
      const seq = rec.firstSeq + i;
      u.bySeq.set(seq, rec);
      const held = u.orphans.get(seq);
      if (held) {
        u.orphans.delete(seq);
        for (const a of held) this.arrive(rec, seq, a.device, a.type, a.at);
      }
    }
  }

  fail(rec: WriteRecord, reason: string): void {
    if (this.frozen) return;
    this.counts.writesFailed += 1;
    for (const id of rec.ids) this.failedIds.add(id);
    if (this.failures.length < 20) this.failures.push(reason);
    rec.types = [];
    this.complete(rec);
  }

  /**
   * An event the device delivered. The device guarantees seq order without duplicates within an
   * epoch (and says `resync` when the epoch changes), so order and duplicates are not re-checked
   * here: they come through onGap and onDropped.
   */
  onEvent(user: number, device: number, e: DeviceEvent): void {
    if (this.frozen) return;
    if (this.foreign(user, device, e)) return;
    if (e.seq === null) return; // transient: not in the log, not matched to a write
    const u = this.userStates[user]!;
    const rec = u.bySeq.get(e.seq);
    if (!rec) {
      const arrival: Arrival = { device, type: e.type, at: e.receivedAt, payload: e.payload };
      const held = u.orphans.get(e.seq);
      if (held) held.push(arrival);
      else u.orphans.set(e.seq, [arrival]);
      return;
    }
    this.arrive(rec, e.seq, device, e.type, e.receivedAt);
  }

  /**
   * A frame the device dropped. A foreign one is cross-user (checked first: a foreign event whose
   * seq the device had already passed is dropped as a duplicate); else only a true duplicate counts.
   * An expected resend (the answer to the device's RESUME) and a frame discarded from a full hold
   * (the resume sends it again) are not errors.
   */
  onDropped(user: number, device: number, e: DeviceEvent, reason: DropReason): void {
    if (this.frozen) return;
    if (this.foreign(user, device, e)) return;
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
  private foreign(user: number, device: number, e: DeviceEvent): boolean {
    if (!this.namesForeignId(user, e.payload)) return false;
    const key = `${user}:${device}:${e.seq ?? `t${e.receivedAt}`}`;
    if (!this.foreignSeen.has(key)) {
      this.foreignSeen.add(key);
      this.counts.crossUser += 1;
    }
    return true;
  }

  /** `idsOf(payload).some(id => owner(id) ∉ {user, unknown})`, without building the list: every frame passes here. */
  private namesForeignId(user: number, payload: unknown): boolean {
    if (!payload || typeof payload !== 'object') return false;
    const p = payload as Record<string, unknown>;
    const mine = (id: unknown) => typeof id !== 'string' || (this.idOwner.get(id) ?? user) === user;
    if (!mine(p.draftId) || !mine(p.pendingOrderId) || !mine(p.orderId)) return true;
    const list = p.orderIds;
    if (Array.isArray(list)) for (let i = 0; i < list.length; i += 1) if (!mine(list[i])) return true;
    return false;
  }

  private arrive(rec: WriteRecord, seq: number, device: number, type: string, at: number): void {
    const i = seq - rec.firstSeq;
    if (type !== rec.types![i]) {
      this.counts.unexpected += 1;
      return;
    }
    const slot = device * rec.types!.length + i;
    if (!Number.isNaN(rec.at![slot])) return; // already there (the device delivers a seq once; a foreign frame in its slot was counted apart)
    rec.at![slot] = at;
    rec.remaining -= 1;
    if (!rec.done && rec.remaining === 0) this.complete(rec);
  }

  private complete(rec: WriteRecord): void {
    if (rec.done) return;
    rec.done = true;
    this.pendingWrites -= 1;
    if (rec.warmup || rec.types!.length === 0) return;
    this.record(rec);
  }

  /** Record the latencies of a write whose events reached every observer. */
  private record(rec: WriteRecord): void {
    const need = rec.types!.length;
    const at = rec.at!;
    const { devices } = this.opts;
    for (let d = 1; d < devices; d += 1) for (let i = 0; i < need; i += 1) if (Number.isNaN(at[d * need + i])) return; // missing somewhere: counted in finish(), not timed
    let worst = 0;
    for (let d = 1; d < devices; d += 1) {
      let last = 0;
      for (let i = 0; i < need; i += 1) last = Math.max(last, at[d * need + i]!);
      const ms = last - rec.due;
      worst = Math.max(worst, ms);
      const h = this.deviceHistograms[rec.user * (devices - 1) + d - 1]!;
      if (h.totalCount === 0) this.byDevice.set(`${rec.user}:${d}`, h);
      recordMs(h, ms);
    }
    for (let i = 0; i < need; i += 1) {
      let typeWorst = 0;
      for (let d = 1; d < devices; d += 1) typeWorst = Math.max(typeWorst, at[d * need + i]! - rec.due);
      const type = rec.types![i]!;
      let h = this.byType.get(type);
      if (!h) this.byType.set(type, (h = createHistogram()));
      recordMs(h, typeWorst);
    }
    recordMs(this.delivery, worst);
    this.buckets[bucketIndex(worst)]! += 1;
    const second = Math.floor(rec.due / 1000);
    let slot = this.timeline.get(second);
    if (!slot) this.timeline.set(second, (slot = { writes: 0, maxMs: 0, sumMs: 0 }));
    slot.writes += 1;
    slot.maxMs = Math.max(slot.maxMs, worst);
    slot.sumMs += worst;
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
      if (rec.types === null) {
        this.fail(rec, `${rec.kind} #${rec.n}: no response by the end of the drain`);
        continue;
      }
      const need = rec.types.length;
      this.counts.expectedDeliveries += need * this.opts.devices;
      this.counts.delivered += need * this.opts.devices - rec.remaining;
      this.counts.missing += rec.remaining;
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
          if (idsOf(a.payload).some((id) => this.failedIds.has(id))) this.counts.ofFailedWrites += 1;
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
