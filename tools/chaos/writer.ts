/**
 * One user's writer: creates drafts and updates them, one write at a time at a paced rate, through
 * the client library's REST client. A write that fails in a way worth retrying (no answer, 5xx,
 * 429, key in use: `isRetryable`) is sent again with the same body and the same Idempotency-Key
 * until it is acknowledged, as the offline queue does. So every write ends acknowledged exactly
 * once, and its seq must be the next one of the user's log: a retry that made a second change, or an
 * acknowledgement that emitted nothing, shows up as an ack anomaly.
 *
 * Two REST clients with the instance URLs in opposite orders, used by turns, keep the writes spread
 * over both instances (a client sticks to the URL that last answered); a network error fails over
 * to the other URL inside the client, with the same key.
 */
import { randomUUID } from 'node:crypto';
import { createRestClient, draftBody, isRetryable, requestFor, type DraftWriteResponse, type RestClient } from '../../client/src/rest.js';
import type { WriteOp } from '../../client/src/types.js';

export interface WriterOptions {
  userId: string;
  token: string;
  urls: readonly [string, string];
  /** Time between the starts of two writes. */
  intervalMs: number;
  /** Per attempt. */
  timeoutMs?: number;
  /** Told of every acknowledged write (recovery probes). */
  onAck: (userId: string, at: number) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Writer {
  readonly userId: string;
  readonly token: string;
  /** Writes acknowledged. */
  acked = 0;
  /** Drafts created (acknowledged): what GET /api/drafts must list at the end. */
  created = 0;
  /** Attempts after the first, over all writes. */
  retries = 0;
  /** Acknowledgements that came with `Idempotent-Replayed: true`: an earlier attempt had committed. */
  replayed = 0;
  /** Highest seq acknowledged: the user's log head as far as this writer knows. */
  lastSeq = 0;
  /** Writes refused for good (a 4xx that no retry can fix): each is a finding. */
  readonly failures: string[] = [];
  /** Acknowledged with a seq other than the next one (or none). */
  readonly ackAnomalies: string[] = [];
  /** Writes still unacknowledged when the writer had to give up (see `stop`). */
  unacked = 0;
  private readonly clients: [RestClient, RestClient];
  private lastDraft: Extract<WriteOp, { kind: 'draft.create' }>['body'] | null = null;
  private stopping = false;
  private giveUpAt = Infinity;
  private loop: Promise<void> | null = null;
  private n = 0;

  constructor(private readonly opts: WriterOptions) {
    this.userId = opts.userId;
    this.token = opts.token;
    const [a, b] = opts.urls;
    const make = (url: string[]) => createRestClient({ url, getToken: () => opts.token, deviceId: `writer-${opts.userId}`, timeoutMs: opts.timeoutMs ?? 5_000 });
    this.clients = [make([a, b]), make([b, a])];
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Finish the write in flight (retrying it until `graceMs` from now) and start no other. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.giveUpAt = Date.now() + graceMs;
    await this.loop;
  }

  private async run(): Promise<void> {
    let next = Date.now();
    while (!this.stopping) {
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      if (this.stopping) break;
      // Behind by more than a second (an outage): start again from now, no catch-up burst.
      next = Math.max(next + this.opts.intervalMs, Date.now() - 1_000);
      await this.writeOnce();
    }
  }

  /** The next write: mostly creates, every third an update of the previous draft (PUT). */
  private nextOp(): WriteOp {
    const k = this.n++;
    const prev = this.lastDraft;
    if (prev && k % 3 === 2) {
      const updatedAt = new Date(Math.max(Date.now(), Date.parse(prev.updatedAt) + 1)).toISOString();
      const body = { ...prev, notes: `edit ${k}`, updatedAt };
      this.lastDraft = body;
      return { kind: 'draft.update', id: prev.id, body };
    }
    const body = draftBody({
      id: randomUUID(),
      customerId: `C-${k}`,
      customerName: `Chaos customer ${k}`,
      items: [{ productId: `P-${k % 7}`, quantity: 1 + (k % 5), price: 9.5 }],
      notes: null,
    });
    this.lastDraft = body;
    return { kind: 'draft.create', id: body.id, body };
  }

  private async writeOnce(): Promise<void> {
    const op = this.nextOp();
    const req = requestFor(op);
    const key = randomUUID();
    const client = this.clients[this.n % 2]!;
    for (let attempt = 0; ; attempt += 1) {
      try {
        const res = await client.request<DraftWriteResponse>(req, { idempotencyKey: key });
        this.acknowledged(op, res.body.seq, res.replayed);
        return;
      } catch (err) {
        if (!isRetryable(err)) {
          this.failures.push(`${req.method} ${req.path}: ${err instanceof Error ? err.message : String(err)}`);
          return;
        }
        if (Date.now() > this.giveUpAt) {
          this.unacked += 1;
          return;
        }
        this.retries += 1;
        await sleep(Math.min(1_000, 50 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random() / 2));
      }
    }
  }

  private acknowledged(op: WriteOp, seq: number | null, replayed: boolean): void {
    this.acked += 1;
    if (op.kind === 'draft.create') this.created += 1;
    if (replayed) this.replayed += 1;
    if (seq !== this.lastSeq + 1) this.ackAnomalies.push(`${op.kind} ${'id' in op ? op.id : ''}: acknowledged with seq ${seq}, expected ${this.lastSeq + 1}`);
    if (seq !== null && seq > this.lastSeq) this.lastSeq = seq;
    this.opts.onAck(this.userId, Date.now());
  }
}
