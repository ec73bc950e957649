/** The URLs of /ws/realtime: from a service base URL, and with the connect parameters of DESIGN §5. */

/** `http://h:p` → `ws://h:p/ws/realtime`; full ws URLs pass through. */
export function realtimeUrl(base: string): string {
  const u = new URL(base);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  else if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new Error(`Unsupported URL scheme ${u.protocol} in ${base}`);
  if (!u.pathname.endsWith('/ws/realtime')) u.pathname = `${u.pathname.replace(/\/+$/, '')}/ws/realtime`;
  u.search = '';
  u.hash = '';
  return u.toString();
}

export interface ConnectParams {
  deviceId: string;
  /** Where to resume from; null when starting live (the HELLO then gives latestSeq). */
  lastSeq: number | null;
  epoch: string | null;
  /** Sent as `?token=` (what a browser can do); omit it when the token goes in a header. */
  queryToken?: string;
}

/** The URL of one connection attempt to `url` (a realtimeUrl). */
export function connectUrl(url: string, p: ConnectParams): string {
  const u = new URL(url);
  u.searchParams.set('deviceId', p.deviceId);
  if (p.lastSeq !== null) u.searchParams.set('lastSeq', String(p.lastSeq));
  if (p.epoch !== null) u.searchParams.set('epoch', p.epoch);
  if (p.queryToken) u.searchParams.set('token', p.queryToken);
  return u.toString();
}
