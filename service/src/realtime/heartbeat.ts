/**
 * The server's ws heartbeat (DESIGN §5): every `intervalMs` each socket that did not answer the
 * previous round's ping is closed with 4408, and every other socket is pinged again.
 *
 * Two guards against closing healthy devices because this process, not the device, was slow:
 * - a round is judged after the event loop's I/O phase (`setImmediate` from the timer), so pongs
 *   that arrived while the loop was busy are read before anyone is judged; timers run before I/O in
 *   Node's loop, and an overloaded process would otherwise find every pong still unread;
 * - a round that comes more than half an interval late (the loop was blocked, or the machine
 *   starved the process) judges no one: it pings again, and the next round on time judges. Without
 *   it, a reconnect storm that saturates an instance makes it close its healthy devices with 4408,
 *   which reconnect too and feed the storm.
 */
/** What the heartbeat needs of a socket (a Connection). */
export interface Beating {
  closed: boolean;
  /** Set by a pong (the gateway), cleared by each round. */
  alive: boolean;
  ws: { ping(): void };
}

export interface HeartbeatDeps<C extends Beating> {
  intervalMs: number;
  connections: () => Iterable<C>;
  /** A socket that missed a round. */
  onTimeout: (conn: C) => void;
  /** A round too late to judge: how late it was, ms. */
  onLateRound?: (lateMs: number) => void;
}

export function createHeartbeat<C extends Beating>(deps: HeartbeatDeps<C>) {
  const { intervalMs } = deps;
  let previous: number | null = null;
  let timer: ReturnType<typeof setInterval> | null = null;

  /** One round at time `now` (ms). Exposed for tests; `start` runs it on an interval. */
  function round(now: number): void {
    const lateMs = previous === null ? 0 : now - previous - intervalMs;
    previous = now;
    const judge = lateMs <= intervalMs / 2;
    if (!judge) deps.onLateRound?.(lateMs);
    for (const conn of deps.connections()) {
      if (conn.closed) continue;
      if (!conn.alive && judge) {
        deps.onTimeout(conn);
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
  }

  return {
    round,
    start(): void {
      if (timer || !(intervalMs > 0)) return;
      previous = Date.now();
      timer = setInterval(() => {
        const firedAt = Date.now();
        setImmediate(() => round(firedAt));
      }, intervalMs);
      timer.unref();
    },
    stop(): void {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
