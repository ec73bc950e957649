/**
 * The address a request came from, for the per-address rate limits and the admin's device list.
 *
 * `TRUST_PROXY_HOPS=0` (the default): the socket's peer; X-Forwarded-For is ignored, since any
 * client can write it. Behind N reverse proxies that each append the address they received from to
 * X-Forwarded-For (nginx `$proxy_add_x_forwarded_for`, most load balancers), `TRUST_PROXY_HOPS=N`:
 * the N-th entry from the right, the one the outermost trusted proxy wrote. Entries left of it were
 * written by the client and are never used. With fewer entries than N (a request that reached us
 * through fewer proxies), the leftmost is taken, as Koa's `maxIpsCount` does. A value that is not
 * an IP address falls back to the socket's peer.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

export type ClientAddressOf = (req: IncomingMessage) => string | null;

/** `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:443`, `2001:db8::1`: the address alone, or null. */
export function parseForwardedAddress(entry: string): string | null {
  let s = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
  if (bracketed) s = bracketed[1]!;
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(s)) s = s.slice(0, s.lastIndexOf(':'));
  return isIP(s) ? s : null;
}

export function createClientAddress(trustProxyHops: number): ClientAddressOf {
  const peer = (req: IncomingMessage) => req.socket.remoteAddress ?? null;
  if (trustProxyHops <= 0) return peer;
  return (req) => {
    const header = req.headers['x-forwarded-for'];
    if (!header) return peer(req);
    // Node joins repeated X-Forwarded-For headers with ", "; an array only if a caller built one.
    const entries = (Array.isArray(header) ? header.join(',') : header).split(',');
    const entry = entries[Math.max(0, entries.length - trustProxyHops)]!;
    return parseForwardedAddress(entry) ?? peer(req);
  };
}
