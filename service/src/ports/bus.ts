/**
 * Fan-out bus between instances. Adapters: in-process (embedded) and Redis pub/sub (several instances).
 * The hub never knows which one it talks to: events come back through the `onEvent` callback.
 */

/** An event as it travels between instances: everything a remote instance needs to deliver it. */
export interface BusEvent {
  userId: string;
  /** null for transient events (never stored nor replayed). */
  seq: number | null;
  epoch: string | null;
  type: string;
  /** Commit time (ISO-8601), used to measure delivery latency. */
  timestamp: string;
  /** The serialized wire frame: the same bytes go to every socket. */
  frame: string;
}

export type BusEventHandler = (event: BusEvent) => void;

/** A message to every instance, not to one user's channel. */
export type ControlMessage = { kind: 'revoke'; userId: string; notBeforeMs: number };

/** What a reconnect may have lost. */
export interface BusGap {
  /** The users whose events may be missing; undefined: every subscribed user's. */
  users?: ReadonlySet<string>;
  /** Control messages may be missing too: reload what they carry (revocations) from the database. */
  control: boolean;
}

export interface BusHandlers {
  onEvent: BusEventHandler;
  /**
   * Called after the bus lost its connection and got it back, or moved some of its subscriptions:
   * events published meanwhile may be lost, so the hub re-reads the log head of each user the gap
   * names and fills what is missing.
   */
  onReconnect?: (gap: BusGap) => void;
  /** A control message broadcast by any instance (this one included). */
  onControl?: (msg: ControlMessage) => void;
}

export interface Bus {
  /** Publish after commit. Resolves when the bus accepted the event; never throws into the caller's response. */
  publish(event: BusEvent): Promise<void>;
  /** Receive the user's events while at least one of their devices is on this instance. */
  subscribe(userId: string): Promise<void>;
  unsubscribe(userId: string): Promise<void>;
  /**
   * Send to every instance, this one included, whatever users they hold. At most once, like
   * publish: an instance that was disconnected meanwhile misses it and reloads what it carries
   * from the database after onReconnect.
   */
  broadcast(msg: ControlMessage): Promise<void>;
  close(): Promise<void>;
}

export type BusFactory = (handlers: BusHandlers) => Bus;
