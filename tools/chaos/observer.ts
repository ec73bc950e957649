/**
 * One observing device: the client library's Device (client/src/node.ts) on both instance URLs, which
 * fails over when its socket drops and resumes with lastSeq + epoch. It starts from lastSeq 0, so it
 * must see the user's whole log: every seq once, in order.
 *
 * What is counted is what an app would see, the Device's `event` emissions: an event at or below
 * the last one is a duplicate, one beyond the next is out of order (the seqs jumped over are
 * missing). A frame the Device itself dropped is counted apart: `resent` (a second copy it asked for
 * with RESUME: expected) and `wireDuplicates` (a copy no RESUME explains: the app never sees it, but
 * the server sent a frame twice). O(1) memory, so the soak can run for millions of events.
 */
import { createNodeDevice } from '../../client/src/node.js';
import type { Device } from '../../client/src/realtime.js';

export class Observer {
  /** Highest seq the app saw. */
  last = 0;
  /** Events the app saw (stored ones: every `event` with a seq). */
  deliveries = 0;
  duplicates = 0;
  outOfOrder = 0;
  /** Seqs jumped over by out-of-order events. */
  skipped = 0;
  readonly resyncs: string[] = [];
  readonly errors: string[] = [];
  connections = 0;
  readonly device: Device;
  private waiters: { seq: number; resolve: () => void }[] = [];

  constructor(
    readonly userId: string,
    readonly deviceId: string,
    token: string,
    urls: readonly [string, string],
    /** Which instance it connects to first. */
    first: 0 | 1,
  ) {
    this.device = createNodeDevice({
      urls: first === 0 ? [urls[0], urls[1]] : [urls[1], urls[0]],
      deviceId,
      token,
      lastSeq: 0,
      // Fail over fast: the faults last seconds.
      backoff: { initialMs: 100, maxMs: 1_000 },
    });
    this.device.on('open', () => (this.connections += 1));
    this.device.on('resync', (r) => this.resyncs.push(`${r.reason} (latestSeq ${r.latestSeq}, had ${r.previousSeq})`));
    this.device.on('error', (e) => {
      if (e.fatal) this.errors.push(`${e.kind}: ${e.message}`);
    });
    this.device.on('event', (e) => {
      if (e.seq === null) return; // transient: not part of the log
      this.deliveries += 1;
      if (e.seq <= this.last) {
        this.duplicates += 1;
        return;
      }
      if (e.seq !== this.last + 1) {
        this.outOfOrder += 1;
        this.skipped += e.seq - this.last - 1;
      }
      this.last = e.seq;
      this.waiters = this.waiters.filter((w) => (w.seq <= this.last ? (w.resolve(), false) : true));
    });
  }

  get wireDuplicates(): number {
    return this.device.counters.duplicates;
  }
  get resent(): number {
    return this.device.counters.resent;
  }

  /** Connect; resolves at the first HELLO, rejects if the Device stops first or after `timeoutMs`. */
  start(timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => done(new Error(`${this.deviceId}: no HELLO within ${timeoutMs} ms`)), timeoutMs);
      const done = (err?: Error) => {
        clearTimeout(t);
        offHello();
        offStopped();
        if (err) reject(err);
        else resolve();
      };
      const offHello = this.device.on('hello', () => done());
      const offStopped = this.device.on('stopped', ({ error }) => done(new Error(`${this.deviceId}: stopped before HELLO: ${error?.message ?? 'closed'}`)));
      this.device.start();
    });
  }

  /** Resolves true once the app has seen `seq`, false after `timeoutMs`. */
  waitFor(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.last >= seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter = { seq, resolve: () => (clearTimeout(t), resolve(true)) };
      this.waiters.push(waiter);
    });
  }

  close(): Promise<void> {
    return this.device.close();
  }
}
