/**
 * App-level liveness: a PING every HELLO.heartbeatMs, and "dead" when a whole interval passes with
 * no frame at all from the server. The server's ws heartbeat (DESIGN §5) detects dead clients for
 * the server; this is the client's own check, with PING frames because browsers cannot send ws pings.
 */
export interface LivenessHooks {
  ping(): void;
  /** Nothing came back for a whole interval: close the socket (the device reconnects). */
  dead(): void;
}

export class Liveness {
  private timer: ReturnType<typeof setInterval> | undefined;
  private awaiting = false;

  constructor(private readonly hooks: LivenessHooks) {}

  /** On HELLO. `enabled` false or a heartbeat of 0 turns the check off. */
  start(heartbeatMs: number, enabled: boolean): void {
    this.stop();
    if (!enabled || !(heartbeatMs > 0)) return;
    this.awaiting = false;
    this.timer = setInterval(() => {
      if (this.awaiting) return this.hooks.dead();
      this.awaiting = true;
      this.hooks.ping();
    }, heartbeatMs);
  }

  /** Any frame counts as an answer, not only PONG: a busy socket is a live one. */
  seen(): void {
    this.awaiting = false;
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
