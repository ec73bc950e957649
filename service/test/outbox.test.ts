/**
 * The outbox sweep against real storage, with the bus reduced to its one effect on the outbox:
 * whether a republished event is confirmed (published) or not (the bus is down).
 */
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Storage, StoredEvent } from '../src/ports/storage.js';
import { createOutbox } from '../src/realtime/outbox.js';
import { makeStorage, storageVariants } from './support/harness.js';

const log = pino({ level: 'silent' });
const options = { intervalMs: 0, graceMs: 0, flushMs: 10 };

describe.each(storageVariants())('outbox sweep ($kind)', ({ kind, skip }) => {
  let storage: Storage;
  beforeAll(async () => {
    if (skip) return;
    storage = await makeStorage(kind);
    await storage.migrate();
  });
  afterAll(async () => {
    await storage?.close();
  });

  /** Commit `n` events that never reached the bus; then mark every other user's events published. */
  async function unpublished(n: number): Promise<string> {
    const user = `u-${randomUUID()}`;
    await storage.unitOfWork(user, async (tx) => {
      for (let i = 0; i < n; i += 1) tx.appendEvent({ type: 'DRAFT_CREATED', payload: { i }, originDeviceId: null });
    });
    const stale = await storage.unpublishedEvents(new Date(Date.now() + 1000), 10_000);
    await storage.markPublished(stale.filter((e) => e.userId !== user));
    return user;
  }

  it.skipIf(skip)('while the bus is down, a sweep reads a full page once and stops (the next interval retries)', async () => {
    await unpublished(501); // more than one page: before, the sweep re-read the first page forever
    const pages: number[] = [];
    const outbox = createOutbox({ storage, log, options, republish: (events) => void pages.push(events.length) });
    expect(await outbox.sweep()).toBe(0);
    expect(pages).toEqual([500]);
    await outbox.stop();
  });

  it.skipIf(skip)('one sweep at a time: a sweep asked for while one runs shares it; a working bus empties the outbox', async () => {
    const user = await unpublished(3);
    const republished: number[] = [];
    const outbox = createOutbox({
      storage,
      log,
      options,
      republish: (events: readonly StoredEvent[]) => {
        republished.push(...events.filter((e) => e.userId === user).map((e) => e.seq));
        for (const e of events) setImmediate(() => outbox.published(e));
      },
    });
    const [a, b] = await Promise.all([outbox.sweep(), outbox.sweep()]);
    expect(a).toBe(b);
    expect(republished).toEqual([1, 2, 3]);
    expect((await storage.unpublishedEvents(new Date(Date.now() + 1000), 10_000)).filter((e) => e.userId === user)).toEqual([]);
    await outbox.stop();
  });
});
