/**
 * A minimal well-behaved device for failover tests: several URLs, reconnects to the next one when
 * its socket drops, resumes with lastSeq + epoch, asks for a missing range with RESUME. It records
 * what the server sent so a test can check "exactly once, in order".
 */
import WebSocket from 'ws';

export class ResumingDevice {
  /** seq of every stored event accepted, in order (duplicates and out-of-order ones are not). */
  readonly accepted: number[] = [];
  duplicates = 0;
  gaps = 0;
  resyncs: string[] = [];
  connections = 0;
  instances: string[] = [];
  private lastSeq = 0;
  private epoch: string | null = null;
  private ws: WebSocket | null = null;
  private stopped = false;
  private index: number;
  private waiters: { seq: number; resolve: () => void }[] = [];
  private onHello: (() => void) | null = null;

  constructor(
    private readonly urls: string[],
    private readonly token: string,
    readonly deviceId: string,
    startIndex = 0,
  ) {
    this.index = startIndex;
  }

  async start(): Promise<void> {
    await this.connect();
  }

  private connect(): Promise<void> {
    return new Promise((resolve) => {
      const tryOnce = () => {
        if (this.stopped) return resolve();
        const u = new URL(this.urls[this.index % this.urls.length]!);
        u.searchParams.set('deviceId', this.deviceId);
        if (this.epoch) {
          u.searchParams.set('lastSeq', String(this.lastSeq));
          u.searchParams.set('epoch', this.epoch);
        }
        const ws = new WebSocket(u, { headers: { authorization: `Bearer ${this.token}` } });
        let opened = false;
        ws.on('open', () => {
          opened = true;
          this.connections += 1;
          this.ws = ws;
          this.onHello = resolve; // connected once the HELLO is in
        });
        ws.on('message', (data) => this.onFrame(JSON.parse(String(data))));
        ws.on('error', () => undefined);
        ws.on('close', () => {
          if (this.ws === ws) this.ws = null;
          if (this.stopped) return;
          this.index += 1; // fail over to the next instance
          setTimeout(opened ? () => void this.connect() : tryOnce, 100);
        });
      };
      tryOnce();
    });
  }

  private onFrame(f: { type: string; payload: any; seq?: number }): void {
    if (f.type === 'HELLO') {
      this.epoch = f.payload.epoch;
      this.instances.push(f.payload.instanceId);
      this.onHello?.();
      this.onHello = null;
      return;
    }
    if (f.type === 'RESYNC_REQUIRED') {
      this.resyncs.push(f.payload.reason);
      return;
    }
    if (f.seq === undefined) return;
    if (f.seq <= this.lastSeq) {
      this.duplicates += 1;
      return;
    }
    if (f.seq !== this.lastSeq + 1) {
      this.gaps += 1;
      this.ws?.send(JSON.stringify({ type: 'RESUME', payload: { lastSeq: this.lastSeq } }));
      return;
    }
    this.lastSeq = f.seq;
    this.accepted.push(f.seq);
    this.waiters = this.waiters.filter((w) => (w.seq <= this.lastSeq ? (w.resolve(), false) : true));
  }

  waitForSeq(seq: number, timeoutMs = 15_000): Promise<void> {
    if (this.lastSeq >= seq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`${this.deviceId}: timed out at seq ${this.lastSeq} waiting for ${seq} (connections ${this.connections})`)),
        timeoutMs,
      );
      this.waiters.push({ seq, resolve: () => (clearTimeout(t), resolve()) });
    });
  }

  stop(): void {
    this.stopped = true;
    this.ws?.terminate();
  }
}
