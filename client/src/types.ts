/**
 * The public types of the client library (DESIGN §11). Wire types (Draft, PendingOrder, payloads)
 * come from the one protocol module; these are the client's own.
 */
import type { Draft, DraftItem, PendingOrder } from '../../service/src/protocol/index.js';
import type { KeyValueStorage } from './storage.js';
import type { WebSocketConstructor } from './realtime.js';

export type { Draft, DraftItem, PendingOrder };

/** What a caller gives to create a draft: `id` and `updatedAt` are made by the client when absent. */
export interface DraftInput {
  id?: string;
  customerId: string;
  customerName: string;
  items: DraftItem[];
  notes?: string | null;
  updatedAt?: string;
}

/** An update: the fields to change; the rest is taken from the draft as the client sees it. */
export type DraftPatch = Partial<Pick<Draft, 'customerId' | 'customerName' | 'items' | 'notes'>> & {
  updatedAt?: string;
  /** Optimistic concurrency: the server refuses with 409 VERSION_CONFLICT when the draft moved on. */
  baseVersion?: number;
};

export interface PendingOrderInput {
  id?: string;
  customerId: string;
  customerName: string;
  items: DraftItem[];
  notes?: string | null;
  updatedAt?: string;
}

/** A write as the offline queue keeps it: plain JSON, so it survives a page reload. */
export type WriteOp =
  | { kind: 'draft.create'; id: string; body: Required<Omit<DraftInput, 'notes'>> & { notes: string | null } }
  | {
      kind: 'draft.update';
      id: string;
      body: Pick<Draft, 'customerId' | 'customerName' | 'items' | 'notes' | 'updatedAt'> & { baseVersion?: number };
    }
  | { kind: 'draft.remove'; id: string; at: string }
  | { kind: 'draft.convert'; id: string; at: string }
  | { kind: 'pending.upsert'; orders: (Required<Omit<PendingOrderInput, 'notes'>> & { notes: string | null })[] }
  | { kind: 'pending.remove'; id: string }
  | { kind: 'pending.submit'; id: string };

export type WriteKind = WriteOp['kind'];

/** A write queued and not yet acknowledged by the server (`client.pendingWrites`). */
export interface PendingWrite {
  /** The Idempotency-Key it is sent with, the same on every attempt. */
  key: string;
  kind: WriteKind;
  /** The draft or order ids it touches. */
  targets: string[];
  enqueuedAt: string;
  attempts: number;
  /** Why the last attempt failed (network, timeout, 5xx), null before the first failure. */
  lastError: { status: number; code: string; message: string } | null;
}

export type ClientStatus = 'connecting' | 'live' | 'offline' | 'stopped';

export interface StatusInfo {
  status: ClientStatus;
  pendingWrites: number;
}

/** One stored event as the store applied it, or a transient one (`seq: null`). */
export interface ClientEvent {
  type: string;
  payload: unknown;
  seq: number | null;
  timestamp: string;
  originDeviceId: string | null;
  /** Written by this device. */
  own: boolean;
  /** Came through a replay (on connect, or to fill a gap), not live. */
  replayed: boolean;
}

export interface ResyncInfo {
  reason: string;
  /** The seq the lists were refetched at: the client continues after it. */
  seq: number;
  epoch: string | null;
}

export interface ClientErrorInfo {
  /** 'realtime' (the socket gave up: bad token, policy close), 'write' (a queued write was refused), 'sync' (a refetch failed). */
  source: 'realtime' | 'write' | 'sync';
  message: string;
  fatal: boolean;
  error?: unknown;
}

export interface ClientEvents {
  status: StatusInfo;
  event: ClientEvent;
  resync: ResyncInfo;
  error: ClientErrorInfo;
}

/** Why a collection changed: a server event, a refetch, a local write, its acknowledgement or rollback. */
export interface Change {
  source: 'event' | 'snapshot' | 'write' | 'ack' | 'rollback';
  /** The ids whose visible record changed (added, updated or removed). */
  ids: string[];
  /** The event type when `source` is 'event'. */
  eventType?: string;
}

export type Subscriber<T> = (items: T[], change: Change) => void;

export interface ClientOptions {
  /** Service base URL(s), e.g. 'https://rt.example.com'; several = failover, for REST and the socket. */
  url: string | readonly string[];
  deviceId: string;
  /** Called at start, before expiry (in-band AUTH), on HTTP 401 and on close 4401. */
  getToken: () => string | Promise<string>;
  /** Default 'memory'. 'indexeddb' and 'local' need a browser (or fake-indexeddb). */
  storage?: 'memory' | 'local' | 'indexeddb' | KeyValueStorage;
  /** Default `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor;
  /** Default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** How the socket carries the token: 'query' (browsers, default) or 'header' (Node's ws). */
  auth?: 'query' | 'header';
  /** Per-request timeout, default 10 s. */
  requestTimeoutMs?: number;
  /** Retry backoff of queued writes and refetches (exponential with jitter). Default 500 ms → 30 s. */
  retry?: { initialMs?: number; maxMs?: number };
  /** Socket reconnect backoff, passed to the Device. Default 1 s → 30 s. */
  reconnect?: { initialMs?: number; maxMs?: number };
  /** Key prefix in the storage; default derived from the token's user and the deviceId. */
  namespace?: string;
  random?: () => number;
}
