/**
 * The device on Node: the `ws` WebSocket class, token in the Authorization header (never in the
 * URL, so it stays out of proxy and access logs).
 */
import WebSocket from 'ws';
import { Device, type DeviceOptions, type WebSocketConstructor } from './realtime.js';

export function createNodeDevice(opts: Omit<DeviceOptions, 'WebSocket' | 'auth'>): Device {
  return new Device({ ...opts, WebSocket: WebSocket as unknown as WebSocketConstructor, auth: 'header' });
}
