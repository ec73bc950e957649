/**
 * Per-user ring buffer of recent stored events, for fast replay on reconnect.
 * Holds a contiguous run of seq (oldest..newest), bounded by count and age.
 */
export interface BufferedEvent {
  seq: number;
  type: string;
  /** Commit time in ms since the epoch. */
  timestampMs: number;
  /** The frame, encoded once. */
  bytes: Buffer;
}

export class RingBuffer {
  private items: BufferedEvent[] = [];
  private head = 0; // index of the oldest live item in `items`
  private byteCount = 0;

  constructor(
    private readonly maxEvents: number,
    private readonly ttlMs: number,
  ) {}

  get size(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.byteCount;
  }

  get firstSeq(): number | null {
    return this.size > 0 ? this.items[this.head]!.seq : null;
  }

  get lastSeq(): number | null {
    return this.size > 0 ? this.items[this.items.length - 1]!.seq : null;
  }

  push(e: BufferedEvent, now = Date.now()): void {
    if (this.maxEvents === 0) return;
    const last = this.lastSeq;
    if (last !== null && e.seq !== last + 1) this.clear(); // never hold a run with a hole in it
    this.items.push(e);
    this.byteCount += e.bytes.length;
    while (this.size > this.maxEvents) this.dropOldest();
    this.expire(now);
  }

  /** Drop events older than the TTL. */
  expire(now = Date.now()): void {
    while (this.size > 0 && now - this.items[this.head]!.timestampMs > this.ttlMs) this.dropOldest();
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** Events with afterSeq < seq <= toSeq if the buffer holds all of them, else null. */
  range(afterSeq: number, toSeq: number, now = Date.now()): BufferedEvent[] | null {
    this.expire(now);
    if (toSeq <= afterSeq) return [];
    const first = this.firstSeq;
    const last = this.lastSeq;
    if (first === null || last === null || first > afterSeq + 1 || last < toSeq) return null;
    const start = this.head + (afterSeq + 1 - first);
    return this.items.slice(start, start + (toSeq - afterSeq));
  }

  /** A copy of what the buffer holds, oldest first. */
  snapshot(now = Date.now()): BufferedEvent[] {
    this.expire(now);
    return this.items.slice(this.head);
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.byteCount = 0;
  }

  private dropOldest(): void {
    const e = this.items[this.head]!;
    this.byteCount -= e.bytes.length;
    this.head += 1;
  }
}
