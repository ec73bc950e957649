/** One device's socket and its delivery state. Listeners live in the gateway, not per instance. */
import type { RawData, WebSocket } from 'ws';
import type { BufferedEvent } from './ring-buffer.js';

/** An event ready to send: encoded once, shared by every socket. seq is null for transient events. */
export interface Delivery extends Omit<BufferedEvent, 'seq'> {
  seq: number | null;
}

export class Connection {
  /** Highest seq handed to this socket; the next stored event it gets is sentSeq + 1. */
  sentSeq = 0;
  /** True while a replay is being prepared: live events wait in `queue` so the seam has no hole. */
  syncing = true;
  queue: Delivery[] = [];
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

  /** Close once; a socket that does not finish the closing handshake is destroyed after `graceMs`. */
  close(code: number, reason: string, graceMs = 2_000): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
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

  clearTimers(): void {
    if (this.noticeTimer) clearTimeout(this.noticeTimer);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.noticeTimer = null;
    this.expiryTimer = null;
  }
}
