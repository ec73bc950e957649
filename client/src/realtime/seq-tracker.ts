/**
 * The ordering of stored events (DESIGN §5): every event of the user once, in `seq` order.
 *
 * Tracks `lastSeq`; drops events at or below it (duplicates); on a hole it holds the later events,
 * asks for a RESUME { lastSeq }, and delivers the held ones once the hole is filled. If the hole is
 * not filled within `gapTimeoutMs` it says so (the device reconnects: the resume on connect fills
 * it, or the server answers RESYNC_REQUIRED). The server answers a RESUME with everything after
 * `lastSeq`, the frames held here included: those second copies are expected (`resent`), not
 * duplicates. Every dropped frame is reported with its parsed event so a caller can still inspect it.
 */
import type { DeviceCounters, DeviceEvent } from './types.js';

export interface SeqTrackerHooks {
  /** The next event in order. */
  deliver(event: DeviceEvent): void;
  duplicate(d: { seq: number; event: DeviceEvent }): void;
  resent(d: { seq: number; event: DeviceEvent }): void;
  discarded(d: { events: DeviceEvent[] }): void;
  gap(d: { expected: number; got: number }): void;
  /** Send `RESUME { lastSeq }`. */
  resume(lastSeq: number): void;
  /** The hole was not filled within `gapTimeoutMs`. */
  gapTimedOut(): void;
}

export interface SeqTrackerOptions {
  /** Resume from here; null to start live (the HELLO's latestSeq is adopted). */
  lastSeq: number | null;
  gapTimeoutMs?: number;
  maxHeld?: number;
  counters: Pick<DeviceCounters, 'duplicates' | 'resent' | 'gaps' | 'discardedHeld'>;
  hooks: SeqTrackerHooks;
}

export class SeqTracker {
  private lastSeq_: number | null;
  private held = new Map<number, DeviceEvent>();
  /**
   * Seqs the outstanding RESUME will send a second time: what the device held when it asked, and
   * what it held after. The server resends everything after the RESUME's lastSeq up to what it had
   * sent, in order, so a copy of one of these is expected once; a second copy is a duplicate.
   */
  private resending = new Set<number>();
  /** Highest seq ever put in `resending` since it was last cleared. */
  private resendMax = 0;
  /** Events up to here come as replay (of the connect's resume, or to fill a hole), not live. */
  private replayUntil = 0;
  /** Set while a RESUME is outstanding: its presence is what "asked already" means. */
  private gapTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly opts: SeqTrackerOptions) {
    this.lastSeq_ = opts.lastSeq;
  }

  /** Highest seq delivered in order; null before the first HELLO when started live. */
  get lastSeq(): number | null {
    return this.lastSeq_;
  }

  /** A HELLO on a new socket: its replay (if any) resends whatever was held, so start clean. */
  hello(latestSeq: number, replayToSeq: number | null): void {
    if (this.lastSeq_ === null) this.lastSeq_ = latestSeq;
    this.replayUntil = replayToSeq ?? 0;
    this.held.clear();
    this.clearResend();
  }

  /** RESYNC_REQUIRED: the hole cannot be filled; continue from the server's latestSeq. Returns the previous lastSeq. */
  resync(latestSeq: number): number | null {
    const previous = this.lastSeq_;
    this.lastSeq_ = latestSeq;
    this.held.clear();
    this.clearResend();
    this.cancelGapTimer();
    return previous;
  }

  /** The socket closed (or the device stopped): an outstanding RESUME will not be answered. */
  cancelGapTimer(): void {
    if (this.gapTimer !== undefined) clearTimeout(this.gapTimer);
    this.gapTimer = undefined;
  }

  /** A stored event (its `seq` is a number) arrived. */
  stored(event: DeviceEvent, seq: number): void {
    const { counters, hooks } = this.opts;
    const last = this.lastSeq_ ?? 0;
    const expectedCopy = this.resending.delete(seq);
    if (seq <= last || this.held.has(seq)) {
      if (expectedCopy) {
        counters.resent += 1;
        hooks.resent({ seq, event });
      } else {
        counters.duplicates += 1;
        hooks.duplicate({ seq, event });
      }
      return;
    }
    if (seq === last + 1) {
      event.replayed = seq <= this.replayUntil;
      this.lastSeq_ = seq;
      hooks.deliver(event);
      this.drainHeld();
      // Frames come in seq order on a socket: a new frame beyond every seq the resume was to resend
      // means the resend is over; whatever it did not resend (sent live after it) will not come twice.
      if (this.resending.size > 0 && this.held.size === 0 && seq > this.resendMax) this.clearResend();
      return;
    }
    // A hole: hold this one and ask for what is missing (once per hole).
    if (this.held.size >= (this.opts.maxHeld ?? 10_000)) {
      counters.discardedHeld += this.held.size;
      const events = [...this.held.values()];
      this.held.clear();
      hooks.discarded({ events });
    }
    this.held.set(seq, event);
    this.replayUntil = Math.max(this.replayUntil, seq - 1);
    if (this.gapTimer) {
      this.expectResend(seq); // held while a RESUME is outstanding: the resend may include it
    } else {
      counters.gaps += 1;
      hooks.gap({ expected: last + 1, got: seq });
      for (const s of this.held.keys()) this.expectResend(s);
      hooks.resume(last);
      this.gapTimer = setTimeout(() => {
        this.gapTimer = undefined;
        hooks.gapTimedOut();
      }, this.opts.gapTimeoutMs ?? 5_000);
    }
  }

  private clearResend(): void {
    this.resending.clear();
    this.resendMax = 0;
  }

  private expectResend(seq: number): void {
    this.resending.add(seq);
    this.resendMax = Math.max(this.resendMax, seq);
  }

  private drainHeld(): void {
    let next = this.held.get((this.lastSeq_ ?? 0) + 1);
    while (next) {
      this.held.delete(next.seq!);
      this.lastSeq_ = next.seq;
      this.opts.hooks.deliver(next);
      next = this.held.get((this.lastSeq_ ?? 0) + 1);
    }
    // Anything still held is above another hole: keep waiting; else the hole is closed.
    if (this.held.size === 0) this.cancelGapTimer();
  }
}
