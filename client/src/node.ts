/**
 * Node factories: the `ws` WebSocket class, token in the Authorization header (never in the URL,
 * so it stays out of proxy and access logs). Node 20 has fetch and crypto.randomUUID built in.
 */
import WebSocket from 'ws';
import { createClient, type ClientOptions, type RealtimeClient } from './index.js';
import { Device, type DeviceOptions, type WebSocketConstructor } from './realtime.js';

export function createNodeDevice(opts: Omit<DeviceOptions, 'WebSocket' | 'auth'>): Device {
  return new Device({ ...opts, WebSocket: WebSocket as unknown as WebSocketConstructor, auth: 'header' });
}

/** `createClient` on Node: `ws` injected, token in the Authorization header; storage defaults to memory. */
export function createNodeClient(opts: Omit<ClientOptions, 'WebSocket' | 'auth'>): RealtimeClient {
  return createClient({ ...opts, WebSocket: WebSocket as unknown as WebSocketConstructor, auth: 'header' });
}
