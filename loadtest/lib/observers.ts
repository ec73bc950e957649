/**
 * Observer devices (the real device client, cli/src/device-node.ts) and the bookkeeping of fan-out:
 * which write is expected where, when it was due, and what arrived.
 *
 * Latency = `receivedAt` on the observer (performance.now() at frame arrival) minus the moment the
 * write was *due* on the writer's schedule, on the same monotonic clock (same process): a stall in
 * the service or in the writer is counted, never hidden (DESIGN §8).
 */
import { createNodeDevice } from '../../client/src/node.js';
import type { Device, DeviceEvent } from '../../client/src/realtime.js';
import { LatencyHistogram } from './stats.js';

export interface FanoutCounters {
  expected: number;
  delivered: number;
  missing: number;
  duplicates: number;
  gaps: number;
  resyncs: number;
  unknown: number;
}

/** Tracks every write by a key (draft id, order id, note tag) and its arrivals on each observer. */
export class FanoutTracker {
  readonly hist = new LatencyHistogram();
  private readonly writes = new Map<string, { due: number; observers: number; seen: number; measured: boolean }>();
  private delivered = 0;
  private unknown = 0;
  private dupes = 0;
  gaps = 0;
  resyncs = 0;
  private waiters: (() => void)[] = [];

  /**
   * A write was due at `due`; `observers` devices must see it; warm-up writes are counted, not
   * measured. Call it before the request is sent: the event may arrive before the HTTP response.
   */
  expect(key: string, due: number, observers: number, measured = true): void {
    this.writes.set(key, { due, observers, seen: 0, measured });
  }

  /** The write failed (non-2xx): nobody should expect its event. */
  forget(key: string): void {
    this.writes.delete(key);
  }

  arrived(key: string, at: number): void {
    const w = this.writes.get(key);
    if (!w) {
      this.unknown += 1;
      return;
    }
    w.seen += 1;
    if (w.seen > w.observers) {
      this.dupes += 1;
      return;
    }
    this.delivered += 1;
    if (w.measured) this.hist.recordMs(at - w.due);
    if (this.outstanding() === 0) for (const fn of this.waiters.splice(0)) fn();
  }

  outstanding(): number {
    let n = 0;
    for (const w of this.writes.values()) n += Math.max(0, w.observers - w.seen);
    return n;
  }

  /** Resolve when every expected delivery arrived, or after `timeoutMs`. */
  async settle(timeoutMs: number): Promise<void> {
    if (this.outstanding() === 0) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  counters(): FanoutCounters {
    let expected = 0;
    for (const w of this.writes.values()) expected += w.observers;
    return {
      expected,
      delivered: this.delivered,
      missing: this.outstanding(),
      duplicates: this.dupes,
      gaps: this.gaps,
      resyncs: this.resyncs,
      unknown: this.unknown,
    };
  }
}

/** Which write an event belongs to: the key the writer put in it. */
export function eventKey(e: Pick<DeviceEvent, 'type' | 'payload'>): string | null {
  const p = e.payload as { draftId?: string; draft?: { notes?: string | null }; orderIds?: string[] };
  switch (e.type) {
    case 'DRAFT_CREATED':
      return p.draftId ?? null;
    case 'DRAFT_UPDATED':
      return p.draft?.notes ?? null;
    case 'PENDING_CREATED':
    case 'PENDING_UPDATED':
      return p.orderIds?.[0] ?? null;
    default:
      return null;
  }
}

/** Connect `perUser` observer devices for each user; resolves once each has its HELLO. */
export async function connectObservers(
  url: string,
  users: readonly { userId: string; token: string }[],
  perUser: number,
  tracker: FanoutTracker,
  keyOf: (e: DeviceEvent) => string | null = eventKey,
): Promise<Device[]> {
  const devices: Device[] = [];
  const ready: Promise<unknown>[] = [];
  for (const u of users) {
    for (let d = 0; d < perUser; d += 1) {
      const dev = createNodeDevice({ urls: [url], deviceId: `observer-${d}`, token: u.token });
      dev.on('event', (e) => {
        const key = keyOf(e);
        if (key !== null) tracker.arrived(key, e.receivedAt);
      });
      dev.on('gap', () => (tracker.gaps += 1));
      dev.on('resync', () => (tracker.resyncs += 1));
      ready.push(
        new Promise((resolve, reject) => {
          dev.once('hello').then(resolve, reject);
          dev.once('stopped').then((s) => reject(new Error(`observer stopped: ${s.error?.message ?? 'closed'}`)), reject);
        }),
      );
      devices.push(dev.start());
    }
  }
  await Promise.all(ready);
  return devices;
}

export async function closeAll(devices: readonly Device[]): Promise<void> {
  await Promise.all(devices.map((d) => d.close()));
}
