/**
 * One device's socket and its delivery state: what it was sent (sentSeq), the live frames it queues
 * while a replay is under way, the paced frames still in flight (see delivery.ts), and the transient
 * frames it holds back under pressure (the latest per job). Listeners live in the gateway, not per
 * instance.
 */
import type { RawData, WebSocket } from 'ws';
import type { BufferedEvent } from './ring-buffer.js';

/** An event ready to send: encoded once, shared by every socket. seq is null for transient events. */
export interface Delivery extends Omit<BufferedEvent, 'seq'> {
  seq: number | null;
  /**
   * Transient events only: what a newer frame supersedes (the type and job id). A socket under
   * pressure keeps one frame per key, the latest (delivery.ts).
   */
  coalesceKey?: string;
}

/** How waiting for a socket to write out its data ended. */
export type DrainOutcome = 'written' | 'failed' | 'stalled';

const TEXT = { binary: false } as const;

export class Connection {
  /** Highest seq handed to this socket; the next stored event it gets is sentSeq + 1. */
  sentSeq = 0;
  /** True while a replay is being prepared: live events wait in `queue` so the seam has no hole. */
  syncing = true;
  queue: Delivery[] = [];
  /**
   * Transient frames held back while the socket is over the transient mark (or syncing): one per
   * coalesce key, the latest, oldest key first. They reference the Delivery every socket shares.
   */
  readonly parked = new Map<string, Delivery>();
  /** Looks again whether the parked frames can go (delivery.ts). */
  parkTimer: NodeJS.Timeout | null = null;
  closed = false;
  alive = true;
  badFrames = 0;
  /** The seq the sync in progress replays from: a RESUME at or above it is already being served. */
  syncFrom = 0;
  /** A RESUME received while syncing, run once the current sync is done. */
  pendingResume: number | null = null;
  /** RESUMEs in the current rate window (see the gateway's limit). */
  resumeWindowStart = 0;
  resumesInWindow = 0;
  /** HELLO is out; until then client frames wait in `held`, so HELLO is always the first frame. */
  helloSent = false;
  held: { data: RawData; isBinary: boolean }[] = [];
  expiresAtMs: number | null;
  noticeTimer: NodeJS.Timeout | null = null;
  expiryTimer: NodeJS.Timeout | null = null;
  readonly connectedAt = new Date();
  /** Paced frames (a replay's) handed to ws whose write has not completed yet. */
  private inFlight = 0;
  /** Wakes the one waiter of `waitForWrite` when a paced frame's write completes. */
  private wake: ((written: boolean) => void) | null = null;
  private readonly onPacedWritten = (err?: Error | null): void => {
    this.inFlight -= 1;
    this.wake?.(!err);
  };

  constructor(
    readonly ws: WebSocket,
    readonly id: string,
    readonly userId: string,
    readonly deviceId: string,
    expiresAtMs: number | null,
    readonly remoteAddress: string | null,
  ) {
    this.expiresAtMs = expiresAtMs;
  }

  /** Bytes handed to the socket that the network has not taken yet. */
  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  /** Paced frames still being written: while there are some, `waitForWrite` has something to wait on. */
  get pacedInFlight(): number {
    return this.inFlight;
  }

  /** Send frame bytes (the same Buffer every socket of the user gets). */
  send(bytes: Buffer | string): void {
    this.ws.send(bytes, TEXT);
  }

  /** Send a frame whose write completion is tracked, so a sender can wait for the socket to drain. */
  sendPaced(bytes: Buffer): void {
    this.inFlight += 1;
    this.ws.send(bytes, TEXT, this.onPacedWritten);
  }

  /** Wait for the next paced frame to be written (or to fail), at most `stallMs`. */
  waitForWrite(stallMs: number): Promise<DrainOutcome> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve('stalled');
      }, stallMs);
      timer.unref();
      this.wake = (written) => {
        clearTimeout(timer);
        this.wake = null;
        resolve(written ? 'written' : 'failed');
      };
    });
  }

  /** Take the live events queued during a sync, oldest first. */
  takeQueued(): Delivery | undefined {
    return this.queue.shift();
  }

  /** Close once; a socket that does not finish the closing handshake is destroyed after `graceMs`. */
  close(code: number, reason: string, graceMs = 2_000): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
    this.dropParked();
    try {
      this.ws.close(code, reason);
    } catch {
      this.ws.terminate();
      return;
    }
    const ws = this.ws;
    setTimeout(() => {
      if (ws.readyState !== ws.CLOSED) ws.terminate();
    }, graceMs).unref();
  }

  /** Forget the parked transient frames (the socket closed: they are never sent). */
  dropParked(): void {
    if (this.parkTimer) clearTimeout(this.parkTimer);
    this.parkTimer = null;
    this.parked.clear();
  }

  clearTimers(): void {
    if (this.noticeTimer) clearTimeout(this.noticeTimer);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.noticeTimer = null;
    this.expiryTimer = null;
  }
}
