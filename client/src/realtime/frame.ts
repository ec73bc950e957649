/**
 * Reading one server frame: JSON.parse once, then a check of exactly the fields the device uses,
 * the same rules as the protocol's loose `serverFrameSchema` (service/src/protocol/messages.ts):
 * an object with `type` and `timestamp` strings, a `payload` (any value), an optional `seq` (a positive safe
 * integer) and an optional `originDeviceId` (string or null). Other keys are ignored.
 *
 * Hand-written instead of the zod schema because every frame of every device passes here (the
 * latency gate runs hundreds of devices in one process), and so the browser bundle does not carry
 * zod for a five-field check. Payload shapes stay the caller's business, as with the schema.
 * `frame.test.ts` holds the two to the same verdicts.
 */

export interface ServerFrameFields {
  type: string;
  payload: unknown;
  timestamp: string;
  seq?: number;
  originDeviceId?: string | null;
}

export type FrameResult = { ok: true; frame: ServerFrameFields } | { ok: false; reason: 'not_json' | 'malformed' };

export function readServerFrame(text: string): FrameResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not_json' };
  }
  const frame = checkServerFrame(raw);
  return frame ? { ok: true, frame } : { ok: false, reason: 'malformed' };
}

/** `raw` itself, typed, when it is a well-formed server frame (other keys stay, unread), else null. */
export function checkServerFrame(raw: unknown): ServerFrameFields | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const f = raw as Record<string, unknown>;
  // `payload` may be anything, null included, but must be there (as zod's z.unknown() in an object wants).
  if (typeof f.type !== 'string' || typeof f.timestamp !== 'string' || !('payload' in f)) return null;
  const seq = f.seq;
  if (seq !== undefined && !(typeof seq === 'number' && Number.isSafeInteger(seq) && seq > 0)) return null;
  const origin = f.originDeviceId;
  if (origin !== undefined && origin !== null && typeof origin !== 'string') return null;
  return f as unknown as ServerFrameFields;
}
