/** Bus port conformance: the in-process bus and the Redis bus behave the same to the hub. */
import { afterAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { createMemoryBus } from '../src/adapters/bus-memory.js';
import { createRedisBus } from '../src/adapters/bus-redis.js';
import type { Bus, BusEvent, BusHandlers } from '../src/ports/bus.js';
import { redisForSuite } from './support/redis-server.js';

const redis = await redisForSuite();
const log = pino({ level: 'silent' });

const variants: { name: string; skip: string | null; make: (h: BusHandlers) => Bus }[] = [
  { name: 'memory', skip: null, make: (h) => createMemoryBus(h) },
  { name: 'redis', skip: redis.skip, make: (h) => createRedisBus(h, { url: redis.server!.url, log, prefix: `t${Date.now()}:` }) },
];

afterAll(async () => {
  await redis.server?.stop();
});

const event = (userId: string, seq: number): BusEvent => ({
  userId,
  seq,
  epoch: 'e1',
  type: 'DRAFT_CREATED',
  timestamp: new Date().toISOString(),
  frame: JSON.stringify({ type: 'DRAFT_CREATED', payload: { n: seq, text: 'è ✓' }, seq }),
});

describe.each(variants)('Bus conformance ($name)', ({ skip, make }) => {
  it.skipIf(skip)('delivers a subscribed user\'s events with the frame bytes intact, and nothing for others', async () => {
    const got: BusEvent[] = [];
    const bus = make({ onEvent: (e) => got.push(e) });
    try {
      await bus.subscribe('alice');
      await bus.publish(event('alice', 1));
      await bus.publish(event('bob', 1));
      await bus.publish(event('alice', 2));
      for (let i = 0; i < 50 && got.length < 2; i += 1) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 50));
      expect(got.map((e) => [e.userId, e.seq])).toEqual([
        ['alice', 1],
        ['alice', 2],
      ]);
      expect(got[0]!.frame).toBe(event('alice', 1).frame);
    } finally {
      await bus.close();
    }
  });

  it.skipIf(skip)('stops delivering after unsubscribe', async () => {
    const got: BusEvent[] = [];
    const bus = make({ onEvent: (e) => got.push(e) });
    try {
      await bus.subscribe('carol');
      await bus.publish(event('carol', 1));
      for (let i = 0; i < 50 && got.length < 1; i += 1) await new Promise((r) => setTimeout(r, 20));
      await bus.unsubscribe('carol');
      await bus.publish(event('carol', 2));
      await new Promise((r) => setTimeout(r, 100));
      expect(got.map((e) => e.seq)).toEqual([1]);
    } finally {
      await bus.close();
    }
  });
});

describe.skipIf(redis.skip)('Redis bus across instances', () => {
  it('an event published by one instance reaches another subscribed instance', async () => {
    const b: BusEvent[] = [];
    const prefix = `x${Date.now()}:`;
    const busA = createRedisBus({ onEvent: () => undefined }, { url: redis.server!.url, log, prefix });
    const busB = createRedisBus({ onEvent: (e) => b.push(e) }, { url: redis.server!.url, log, prefix });
    try {
      await busB.subscribe('dave');
      await busA.publish(event('dave', 7));
      for (let i = 0; i < 50 && b.length < 1; i += 1) await new Promise((r) => setTimeout(r, 20));
      expect(b).toHaveLength(1);
      expect(b[0]!.frame).toBe(event('dave', 7).frame);
      expect(b[0]!.seq).toBe(7);
    } finally {
      await Promise.all([busA.close(), busB.close()]);
    }
  });
});
