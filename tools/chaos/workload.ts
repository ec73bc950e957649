/**
 * The chaos workload: per user one writer (writer.ts) and a few observing devices (observer.ts)
 * spread over both instances, and recovery probes (how long after a fault writes are acknowledged
 * again).
 */
import { randomUUID } from 'node:crypto';
import { mintToken } from '../token.js';
import { Observer } from './observer.js';
import { Writer } from './writer.js';

export interface WorkloadOptions {
  urls: readonly [string, string];
  users: number;
  observersPerUser: number;
  /** Writes per second over all users. */
  writesPerSecond: number;
}

/** After a fault: when the first write was acknowledged again, and when every writer had one. */
export interface Recovery {
  /** ms from the fault to the first acknowledged write after it; null if none within the wait. */
  firstAckMs: number | null;
  /** ms from the fault until every writer had a write acknowledged; null if not all within the wait. */
  allWritersMs: number | null;
}

interface Probe {
  since: number;
  first: number | null;
  users: Set<string>;
  all: number | null;
  wake: (() => void) | null;
}

export class Workload {
  readonly writers: Writer[] = [];
  readonly observers: Observer[] = [];
  private readonly probes = new Set<Probe>();

  private constructor(private readonly opts: WorkloadOptions) {}

  /** Mint the users' tokens and connect every observer (each has its HELLO before any write). */
  static async create(opts: WorkloadOptions): Promise<Workload> {
    const w = new Workload(opts);
    const run = randomUUID().slice(0, 8);
    const intervalMs = (1_000 * opts.users) / opts.writesPerSecond;
    for (let u = 0; u < opts.users; u += 1) {
      const userId = `chaos-${run}-u${u}`;
      // Long enough for any soak: renewal is not what this tests.
      const token = await mintToken(userId, { ttlSec: 24 * 3_600 });
      w.writers.push(new Writer({ userId, token, urls: opts.urls, intervalMs, onAck: (id, at) => w.acked(id, at) }));
      for (let k = 0; k < opts.observersPerUser; k += 1) {
        w.observers.push(new Observer(userId, `obs-${u}-${k}`, token, opts.urls, ((u + k) % 2) as 0 | 1));
      }
    }
    try {
      await Promise.all(w.observers.map((o) => o.start()));
    } catch (err) {
      await w.close();
      throw err;
    }
    return w;
  }

  startWriters(): void {
    for (const w of this.writers) w.start();
  }

  /** Stop writing; each writer finishes (acknowledges) the write in flight within `graceMs`. */
  async stopWriters(graceMs: number): Promise<void> {
    await Promise.all(this.writers.map((w) => w.stop(graceMs)));
  }

  /** Wait until every observer saw its user's last acknowledged seq; false if some did not within `timeoutMs`. */
  async drain(timeoutMs: number): Promise<boolean> {
    const head = new Map(this.writers.map((w) => [w.userId, w.lastSeq]));
    const ok = await Promise.all(this.observers.map((o) => o.waitFor(head.get(o.userId) ?? 0, timeoutMs)));
    return ok.every(Boolean);
  }

  /** Start measuring recovery from now (call right before injecting the fault). */
  probe(): { wait(timeoutMs: number): Promise<Recovery> } {
    const p: Probe = { since: Date.now(), first: null, users: new Set(), all: null, wake: null };
    this.probes.add(p);
    return {
      wait: async (timeoutMs) => {
        if (p.all === null) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, timeoutMs);
            p.wake = () => (clearTimeout(t), resolve());
          });
        }
        this.probes.delete(p);
        return { firstAckMs: p.first === null ? null : p.first - p.since, allWritersMs: p.all === null ? null : p.all - p.since };
      },
    };
  }

  totals() {
    const sum = <T>(xs: T[], f: (x: T) => number) => xs.reduce((s, x) => s + f(x), 0);
    return {
      writes: sum(this.writers, (w) => w.acked),
      retries: sum(this.writers, (w) => w.retries),
      replayed: sum(this.writers, (w) => w.replayed),
      deliveries: sum(this.observers, (o) => o.deliveries),
    };
  }

  /** Stop the writers (if still running, giving up on a write in flight) and close every device. */
  async close(): Promise<void> {
    await this.stopWriters(0);
    await Promise.allSettled(this.observers.map((o) => o.close()));
  }

  private acked(userId: string, at: number): void {
    for (const p of this.probes) {
      if (at < p.since) continue;
      p.first ??= at;
      p.users.add(userId);
      if (p.all === null && p.users.size === this.writers.length) {
        p.all = at;
        p.wake?.();
      }
    }
  }
}
