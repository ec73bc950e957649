/**
 * Turns a device's events into what `rtctl tail` shows: event lines and status lines (connected,
 * replay, gap, reconnecting, resync). Used by the plain/NDJSON output and by the Ink view alike.
 */
import type { Device, DeviceEvent } from '../../client/src/realtime.js';
import { formatDuration, paint, summarizePayload } from './format.js';

export type FeedItem =
  | { kind: 'event'; id: number; event: DeviceEvent; ageMs: number }
  | { kind: 'status'; id: number; level: 'info' | 'warn' | 'error'; text: string };

export interface FeedOptions {
  match: (type: string) => boolean;
  /** Wall clock for ages (event timestamps are wall-clock commit times). */
  now?: () => number;
}

export function attachFeed(device: Device, opts: FeedOptions, onItem: (item: FeedItem) => void): () => void {
  const now = opts.now ?? Date.now;
  let id = 0;
  const status = (level: 'info' | 'warn' | 'error', text: string) => onItem({ kind: 'status', id: ++id, level, text });
  const offs = [
    device.on('event', (event) => {
      if (!opts.match(event.type)) return;
      onItem({ kind: 'event', id: ++id, event, ageMs: now() - Date.parse(event.timestamp) });
    }),
    device.on('hello', (h) => {
      status('info', `connected to ${h.url} (instance ${h.instanceId}, user ${h.userId}, device ${h.deviceId}) at seq ${device.lastSeq ?? h.latestSeq}`);
      if (h.replay) status('info', `replaying ${h.replay.count} missed event(s): seq ${h.replay.fromSeq}-${h.replay.toSeq} from ${h.replay.source}`);
    }),
    device.on('gap', (g) => status('warn', `gap: expected seq ${g.expected}, got ${g.got}; asked the server to resend (RESUME)`)),
    device.on('resync', (r) =>
      status(
        'warn',
        `RESYNC_REQUIRED (${r.reason}): events after seq ${r.previousSeq ?? '?'} cannot be replayed; refetch lists. Continuing from seq ${r.latestSeq}`,
      ),
    ),
    device.on('reconnecting', (r) =>
      status('warn', `disconnected${r.code !== null ? ` (${r.code}${r.reason ? ` ${r.reason}` : ''})` : ` (${r.reason})`}; reconnecting to ${r.url} in ${formatDuration(r.delayMs)}, attempt ${r.attempt}, resuming after seq ${device.lastSeq ?? '-'}`),
    ),
    device.on('tokenRenewed', (t) => status('info', `token renewed in band${t.expiresAt ? `, now expires ${t.expiresAt}` : ''}`)),
    device.on('error', (e) => status(e.fatal ? 'error' : 'warn', e.message)),
  ];
  return () => offs.forEach((off) => off());
}

function clock(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(11, 23);
}

/** `12:03:04.123  #42  DRAFT_CREATED  +12ms  from phone (own)  [replay]  draft 3f2a1b2c Rossi, 1 item` */
export function formatEventLine(item: Extract<FeedItem, { kind: 'event' }>, color: boolean): string {
  const e = item.event;
  const seq = e.seq === null ? '   -' : `#${e.seq}`.padStart(4);
  const origin = e.originDeviceId ? `from ${e.originDeviceId}${e.own ? ' (own)' : ''}` : 'from -';
  const parts = [
    paint(color, 'dim', clock(e.timestamp)),
    paint(color, 'bold', seq),
    paint(color, e.type.startsWith('JOB_') ? 'magenta' : 'cyan', e.type.padEnd(22)),
    `+${formatDuration(item.ageMs)}`.padStart(7),
    paint(color, e.own ? 'dim' : 'green', origin),
  ];
  // Before the payload: a narrow terminal truncates the end of the line, never this marker.
  if (e.replayed) parts.push(paint(color, 'yellow', '[replay]'));
  parts.push(summarizePayload(e.type, e.payload));
  return parts.join('  ');
}

export function formatStatusLine(item: Extract<FeedItem, { kind: 'status' }>, color: boolean): string {
  const style = item.level === 'error' ? 'red' : item.level === 'warn' ? 'yellow' : 'dim';
  return paint(color, style, `-- ${item.text}`);
}

/** The NDJSON form of an event line. */
export function eventJson(item: Extract<FeedItem, { kind: 'event' }>): Record<string, unknown> {
  const e = item.event;
  return {
    type: e.type,
    seq: e.seq,
    timestamp: e.timestamp,
    ageMs: Math.round(item.ageMs),
    originDeviceId: e.originDeviceId,
    own: e.own,
    replayed: e.replayed,
    payload: e.payload,
  };
}
