/**
 * Redis pub/sub bus: one channel per user, subscribed while this instance holds a device of that
 * user, and one control channel every instance always listens on (broadcast). One connection
 * publishes, one subscribes. ioredis re-subscribes after a reconnect; events published while the
 * connection was down are filled from the log by the hub (onReconnect), and what control messages
 * carry is reloaded from the database then (revocations).
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Bus, BusEvent, BusHandlers, ControlMessage } from '../ports/bus.js';
import { afterHandshake } from './redis-client.js';

export const userChannel = (prefix: string, userId: string) => `${prefix}u:${userId}`;
export const controlChannel = (prefix: string) => `${prefix}control`;

/** A control message off the wire, or null when it is not one this version knows. */
/** A user channel's message as the publisher wrote it, or null when it is not JSON. */
export function parseBusEvent(text: string): BusEvent | null {
  try {
    return JSON.parse(text) as BusEvent;
  } catch {
    return null;
  }
}

export function parseControlMessage(text: string): ControlMessage | null {
  let m: Partial<ControlMessage> | null;
  try {
    m = JSON.parse(text) as Partial<ControlMessage> | null;
  } catch {
    return null;
  }
  if (m?.kind === 'revoke' && typeof m.userId === 'string' && typeof m.notBeforeMs === 'number' && Number.isFinite(m.notBeforeMs)) {
    return { kind: 'revoke', userId: m.userId, notBeforeMs: m.notBeforeMs };
  }
  return null;
}

export function createRedisBus(
  handlers: BusHandlers,
  opts: { url: string; log: Logger; prefix?: string },
): Bus {
  const prefix = opts.prefix ?? 'rt:';
  const log = opts.log.child({ component: 'bus-redis' });
  const common = { lazyConnect: false, maxRetriesPerRequest: 2, retryStrategy: (n: number) => Math.min(50 * 2 ** n, 2_000) };
  const pub = new Redis(opts.url, { ...common, connectionName: 'rt-pub' });
  const sub = new Redis(opts.url, { ...common, connectionName: 'rt-sub', autoResubscribe: true });
  const control = controlChannel(prefix);
  let lostConnection = false;

  for (const [name, conn] of [['pub', pub], ['sub', sub]] as const) {
    conn.on('error', (err: Error) => log.warn({ conn: name, err: err.message }, 'redis error'));
  }
  sub.on('close', () => {
    lostConnection = true;
  });
  sub.on('ready', () => {
    // On every ready, not once: a SUBSCRIBE that failed while Redis was down is not re-sent by
    // ioredis's autoResubscribe, and subscribing twice is harmless.
    sub.subscribe(control).catch((err: Error) => log.warn({ err: err.message }, 'control channel subscribe failed'));
    if (!lostConnection) return;
    lostConnection = false;
    log.info('redis subscriber reconnected; filling missed events from the log');
    // ioredis re-subscribes on 'ready' before this handler runs its own commands; give it a moment.
    // One connection carried every channel: any user's events, and control messages, may be missing.
    setTimeout(() => handlers.onReconnect?.({ control: true }), 50);
  });
  sub.on('message', (channel: string, message: string) => {
    if (channel === control) {
      const msg = parseControlMessage(message);
      if (msg) handlers.onControl?.(msg);
      else log.warn('unknown control message dropped');
      return;
    }
    const event = parseBusEvent(message);
    if (event) handlers.onEvent(event);
    else log.warn('unparseable bus message dropped');
  });

  return {
    async publish(event) {
      await pub.publish(userChannel(prefix, event.userId), JSON.stringify(event));
    },
    async subscribe(userId) {
      await afterHandshake(sub);
      await sub.subscribe(userChannel(prefix, userId));
    },
    async unsubscribe(userId) {
      await afterHandshake(sub);
      await sub.unsubscribe(userChannel(prefix, userId));
    },
    async broadcast(msg) {
      await pub.publish(control, JSON.stringify(msg));
    },
    async close() {
      await Promise.allSettled([pub.quit(), sub.quit()]);
      pub.disconnect();
      sub.disconnect();
    },
  };
}
