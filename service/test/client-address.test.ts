/** Which address a request is counted against: the socket's peer, or the trusted proxies' X-Forwarded-For entry. */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createClientAddress, parseForwardedAddress } from '../src/http/client-address.js';

const req = (xff: string | string[] | undefined, peer = '10.0.0.9') =>
  ({ headers: xff === undefined ? {} : { 'x-forwarded-for': xff }, socket: { remoteAddress: peer } }) as unknown as IncomingMessage;

describe('client address', () => {
  it('with no trusted proxy, is the socket peer whatever X-Forwarded-For says', () => {
    const of = createClientAddress(0);
    expect(of(req('203.0.113.7'))).toBe('10.0.0.9');
    expect(of(req(undefined))).toBe('10.0.0.9');
  });

  it('behind one proxy, is the entry it appended (the rightmost); what the client wrote before it is ignored', () => {
    const of = createClientAddress(1);
    expect(of(req('203.0.113.7'))).toBe('203.0.113.7');
    expect(of(req('1.1.1.1, 6.6.6.6, 203.0.113.7'))).toBe('203.0.113.7');
    expect(of(req(undefined))).toBe('10.0.0.9');
  });

  it('behind two proxies, is the entry the outer one wrote', () => {
    const of = createClientAddress(2);
    expect(of(req('6.6.6.6, 203.0.113.7, 10.1.0.2'))).toBe('203.0.113.7');
    // Fewer entries than proxies: the leftmost (as Koa's maxIpsCount).
    expect(of(req('203.0.113.8'))).toBe('203.0.113.8');
  });

  it('takes addresses with ports and brackets, and falls back to the peer on anything else', () => {
    expect(parseForwardedAddress(' 203.0.113.7:5123 ')).toBe('203.0.113.7');
    expect(parseForwardedAddress('[2001:db8::1]:443')).toBe('2001:db8::1');
    expect(parseForwardedAddress('2001:db8::1')).toBe('2001:db8::1');
    expect(parseForwardedAddress('unknown')).toBeNull();
    expect(parseForwardedAddress('')).toBeNull();
    expect(createClientAddress(1)(req('1.2.3.4, not-an-ip'))).toBe('10.0.0.9');
  });
});
