/**
 * A well-behaved device for failover tests: the client's Device (client/src/realtime.ts) on several
 * URLs, which reconnects to the next one when its socket drops, resumes with lastSeq + epoch and
 * asks for a missing range with RESUME. This wrapper only counts what the Device reports, so a test
 * can check "exactly once, in order" from the client's side.
 */
import { createNodeDevice } from '../../../client/src/node.js';
import type { Device } from '../../../client/src/realtime.js';

export class ResumingDevice {
  /** seq of every stored event the Device delivered, in order. */
  readonly accepted: number[] = [];
  /** Copies the Device dropped that no RESUME of its own explains. */
  duplicates = 0;
  gaps = 0;
  resyncs: string[] = [];
  connections = 0;
  instances: string[] = [];
  readonly device: Device;
  private waiters: { seq: number; resolve: () => void }[] = [];

  constructor(urls: string[], token: string, readonly deviceId: string, startIndex = 0) {
    const k = startIndex % urls.length;
    this.device = createNodeDevice({
      urls: [...urls.slice(k), ...urls.slice(0, k)],
      deviceId,
      token,
      // Fail over fast: the tests kill instances and wait seconds, not minutes.
      backoff: { initialMs: 100, maxMs: 1_000 },
      liveness: false,
    });
    this.device.on('open', () => (this.connections += 1));
    this.device.on('hello', (h) => this.instances.push(h.instanceId));
    this.device.on('resync', (r) => this.resyncs.push(r.reason));
    this.device.on('gap', () => (this.gaps += 1));
    this.device.on('duplicate', () => (this.duplicates += 1));
    this.device.on('event', (e) => {
      if (e.seq === null) return;
      this.accepted.push(e.seq);
      this.waiters = this.waiters.filter((w) => (w.seq <= e.seq! ? (w.resolve(), false) : true));
    });
  }

  /** Connect; resolves once the first HELLO is in, rejects if the Device gives up first. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const offHello = this.device.on('hello', () => (offHello(), offStopped(), resolve()));
      const offStopped = this.device.on('stopped', ({ error }) => {
        offHello();
        reject(new Error(`${this.deviceId}: stopped before HELLO: ${error?.message ?? 'closed'}`));
      });
      this.device.start();
    });
  }

  waitForSeq(seq: number, timeoutMs = 15_000): Promise<void> {
    if ((this.device.lastSeq ?? 0) >= seq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`${this.deviceId}: timed out at seq ${this.device.lastSeq} waiting for ${seq} (connections ${this.connections})`)),
        timeoutMs,
      );
      this.waiters.push({ seq, resolve: () => (clearTimeout(t), resolve()) });
    });
  }

  stop(): void {
    void this.device.close();
  }
}
