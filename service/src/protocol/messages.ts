/**
 * The wire protocol of /ws/realtime, defined once: message types, payloads, frame schemas.
 * Imported by the service and by rtctl. Every frame is JSON:
 *   { type, payload, timestamp, seq?, originDeviceId? }
 * Stored (buffered) events carry a per-user `seq` (gapless, from 1); transient ones carry none.
 */
import { z } from 'zod';

/** Event types written to the per-user log: they carry `seq`, are buffered and replayed. */
export const STORED_EVENT_TYPES = [
  'DRAFT_CREATED',
  'DRAFT_UPDATED',
  'DRAFT_DELETED',
  'DRAFT_CONVERTED',
  'PENDING_CREATED',
  'PENDING_UPDATED',
  'PENDING_DELETED',
  'JOB_STARTED',
  'JOB_COMPLETED',
  'JOB_FAILED',
  'ORDER_NUMBERS_RESOLVED',
] as const;
export type StoredEventType = (typeof STORED_EVENT_TYPES)[number];

/** Transient events: no `seq`, never stored, never replayed, coalesced or dropped under pressure. */
export const TRANSIENT_EVENT_TYPES = ['JOB_PROGRESS'] as const;
export type TransientEventType = (typeof TRANSIENT_EVENT_TYPES)[number];
export type EventType = StoredEventType | TransientEventType;

/** Any `*_PROGRESS` type is transient, including ones added later. */
export function isTransientType(type: string): boolean {
  return type.endsWith('_PROGRESS');
}

export interface DraftItem {
  productId: string;
  quantity: number;
  price?: number | null;
  notes?: string | null;
}

export interface Draft {
  id: string;
  deviceId: string | null;
  customerId: string;
  customerName: string;
  items: DraftItem[];
  notes: string | null;
  updatedAt: string;
  serverUpdatedAt: string;
  version: number;
  deleted: boolean;
  deletedAt: string | null;
  convertedTo: string | null;
}

export type PendingOrderStatus = 'pending' | 'submitting' | 'submitted' | 'failed';

export interface PendingOrder {
  id: string;
  deviceId: string | null;
  customerId: string;
  customerName: string;
  items: DraftItem[];
  notes: string | null;
  updatedAt: string;
  serverUpdatedAt: string;
  version: number;
  status: PendingOrderStatus;
  erpOrderNumber: string | null;
  jobId: string | null;
  sourceDraftId: string | null;
}

/** Payloads by event type. */
export interface EventPayloads {
  DRAFT_CREATED: { draftId: string; draft: Draft; deviceId: string | null };
  DRAFT_UPDATED: { draftId: string; draft: Draft; deviceId: string | null };
  DRAFT_DELETED: { draftId: string; deleted: true; deviceId: string | null };
  DRAFT_CONVERTED: { draftId: string; pendingOrderId: string };
  PENDING_CREATED: { orderIds: string[]; count: number };
  PENDING_UPDATED: { orderIds: string[]; count: number };
  PENDING_DELETED: { orderId: string };
  JOB_STARTED: { jobId: string; orderId: string; attempt: number };
  JOB_PROGRESS: { jobId: string; orderId: string; progress: number; stage: string };
  JOB_COMPLETED: { jobId: string; orderId: string; erpOrderNumber: string };
  JOB_FAILED: { jobId: string; orderId: string; error: string; attempt: number; willRetry: boolean };
  ORDER_NUMBERS_RESOLVED: { mappings: { orderId: string; erpOrderNumber: string }[] };
}

/** A frame carrying an event, as sent to devices. */
export interface EventFrame<T extends EventType = EventType> {
  type: T;
  payload: EventPayloads[T];
  timestamp: string;
  seq?: number;
  originDeviceId?: string | null;
}

export type ReplaySource = 'buffer' | 'log';
export type ResyncReason = 'evicted' | 'epoch_changed' | 'ahead';

export interface HelloPayload {
  userId: string;
  deviceId: string;
  connectionId: string;
  instanceId: string;
  epoch: string;
  latestSeq: number;
  heartbeatMs: number;
  tokenExpiresAt: string | null;
  replay: { fromSeq: number; toSeq: number; count: number; source: ReplaySource } | null;
}

/** Control frames from server to client (no seq). */
export interface ControlPayloads {
  HELLO: HelloPayload;
  RESYNC_REQUIRED: { reason: ResyncReason; latestSeq: number; epoch: string };
  TOKEN_EXPIRING: { expiresAt: string };
  PONG: { clientTime: number | null; serverTime: number };
  ERROR: { code: string; message: string };
  AUTH_OK: { expiresAt: string | null };
}
export type ControlType = keyof ControlPayloads;

export interface ControlFrame<T extends ControlType = ControlType> {
  type: T;
  payload: ControlPayloads[T];
  timestamp: string;
}

export type ServerFrame = EventFrame | ControlFrame;

/**
 * Serialize an event frame. The key order is fixed so the same event always gives the same bytes,
 * whether it comes live, from the ring buffer, from the log, or from another instance.
 */
export function encodeEventFrame(e: {
  type: string;
  payload: unknown;
  timestamp: string;
  seq: number | null;
  originDeviceId: string | null;
}): string {
  if (e.seq === null) {
    return JSON.stringify({ type: e.type, payload: e.payload, timestamp: e.timestamp, originDeviceId: e.originDeviceId });
  }
  return JSON.stringify({
    type: e.type,
    payload: e.payload,
    timestamp: e.timestamp,
    seq: e.seq,
    originDeviceId: e.originDeviceId,
  });
}

export function encodeControlFrame<T extends ControlType>(type: T, payload: ControlPayloads[T]): string {
  return JSON.stringify({ type, payload, timestamp: new Date().toISOString() });
}

// ---- client to server ----

export const clientFrameSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('PING'), payload: z.object({ clientTime: z.number().finite().optional() }).optional() }),
  z.object({ type: z.literal('RESUME'), payload: z.object({ lastSeq: z.number().int().min(0) }) }),
  z.object({ type: z.literal('AUTH'), payload: z.object({ token: z.string().min(1).max(8192) }) }),
]);
export type ClientFrame = z.infer<typeof clientFrameSchema>;

/**
 * Query of the upgrade request. `lastEventTs` (ISO-8601, from clients older than seq) resumes after
 * the last event committed at or before that time; `lastSeq` wins when both are given.
 */
export const connectQuerySchema = z.object({
  deviceId: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9._:@-]+$/, 'letters, digits and . _ : @ - only'),
  lastSeq: z.coerce.number().int().min(0).optional(),
  epoch: z.string().min(1).max(64).optional(),
  lastEventTs: z.iso
    .datetime({ offset: true })
    // PostgreSQL has no year 0 (nor reads '+010000-...'): refused here with 400, not with a 503.
    .refine((s) => {
      const year = new Date(s).getUTCFullYear();
      return year >= 1 && year <= 9999;
    }, 'must be between 0001-01-01 and 9999-12-31 UTC')
    .optional(),
  token: z.string().optional(),
});

/** Parse any server frame loosely (for clients): type, payload, timestamp, optional seq. */
export const serverFrameSchema = z.object({
  type: z.string(),
  payload: z.unknown(),
  timestamp: z.string(),
  seq: z.number().int().positive().optional(),
  originDeviceId: z.string().nullable().optional(),
});
