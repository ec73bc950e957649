/**
 * A (S)SUBSCRIBE during a connection's handshake (adapters/redis-client.ts, afterHandshake). ioredis
 * writes pub/sub commands before its ready check; when the reply puts the connection in subscriber
 * mode first, it refuses its own INFO, reconnects, and does not re-subscribe: the channel is gone
 * while the SUBSCRIBE's caller was told it succeeded. The buses wait for the handshake instead.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { afterHandshake } from '../src/adapters/redis-client.js';
import { redisForSuite } from './support/redis-server.js';

const { server, skip } = await redisForSuite();
afterAll(async () => server?.stop());

/** A connection that subscribes to `channel` from its 'connect' event (mid-handshake), with or without the wait. */
async function subscribeInHandshake(channel: string, wait: boolean): Promise<{ numsub: number; errors: string[] }> {
  const conn = new Redis(server!.url, { lazyConnect: true, connectionName: 'rt-sub', retryStrategy: () => 50 });
  const probe = new Redis(server!.url);
  const errors: string[] = [];
  conn.on('error', (err: Error) => errors.push(err.message));
  try {
    const subscribed = new Promise<void>((resolve, reject) => {
      conn.once('connect', () => {
        expect(conn.status).toBe('connect');
        (wait ? afterHandshake(conn) : Promise.resolve()).then(() => conn.subscribe(channel)).then(() => resolve(), reject);
      });
    });
    // Without the wait, connect() fails: the handshake it waits for was given up.
    await conn.connect().catch((err: Error) => errors.push(`connect: ${err.message}`));
    await subscribed;
    // Long enough for a refused ready check, the reconnect (50 ms) and a new handshake.
    await new Promise((r) => setTimeout(r, 300));
    const [, numsub] = (await probe.pubsub('NUMSUB', channel)) as [string, number];
    return { numsub: Number(numsub), errors };
  } finally {
    conn.disconnect();
    probe.disconnect();
  }
}

describe('SUBSCRIBE during the connection handshake', () => {
  it.skipIf(skip)('held when it waits for the handshake (afterHandshake): the server has the channel, no error', async () => {
    for (let i = 0; i < 5; i += 1) {
      const got = await subscribeInHandshake(`hs-wait-${i}`, true);
      expect(got).toEqual({ numsub: 1, errors: [] });
    }
  });

  // The reason for the wait, kept as a test: when ioredis stops losing the channel, this fails and
  // afterHandshake can go (ioredis 5.11.1 loses it every time).
  it.skipIf(skip)('lost without the wait: ioredis refuses its own ready check and does not re-subscribe', async () => {
    const got = await subscribeInHandshake('hs-nowait', false);
    expect(got.numsub).toBe(0);
    expect(got.errors.join('; ')).toMatch(/subscriber mode/);
  });
});
