/**
 * The storage port (storage.ts), one conformance suite that every adapter runs: memory, localStorage
 * and IndexedDB (fake-indexeddb on Node). The localStorage adapter is given a small in-memory object
 * with the Web Storage API: that is the browser's API standing in for window.localStorage, not a
 * stand-in for our code.
 */
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { createIndexedDbStorage } from './storage-indexeddb.js';
import { createLocalStorage, type WebStorageLike } from './storage-local.js';
import { createMemoryStorage } from './storage-memory.js';
import type { KeyValueStorage } from './storage.js';

/** window.localStorage as far as the adapter uses it: string values, and a quota like the browser's. */
class WebStorage implements WebStorageLike {
  readonly items = new Map<string, string>();
  constructor(private readonly quotaChars = Infinity) {}
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    const used = [...this.items].reduce((n, [k, v]) => n + (k === key ? 0 : k.length + v.length), 0);
    // Browsers throw a DOMException named QuotaExceededError from setItem.
    if (used + key.length + value.length > this.quotaChars) throw Object.assign(new Error('The quota has been exceeded.'), { name: 'QuotaExceededError' });
    this.items.set(key, String(value));
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

interface Variant {
  name: string;
  /** A fresh, empty store; `reopen` opens the same backing store again (a page reload), where it persists. */
  fresh(): { store: KeyValueStorage; reopen?: () => KeyValueStorage };
}

const opened: KeyValueStorage[] = [];
const track = (s: KeyValueStorage) => (opened.push(s), s);
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close?.();
});

const variants: Variant[] = [
  { name: 'memory', fresh: () => ({ store: track(createMemoryStorage()) }) },
  {
    name: 'localStorage',
    fresh: () => {
      const web = new WebStorage();
      const open = () => track(createLocalStorage({ storage: web, prefix: 'app:' }));
      return { store: open(), reopen: open };
    },
  },
  {
    name: 'IndexedDB (fake-indexeddb)',
    fresh: () => {
      const name = `storage-test-${Math.random()}`;
      const open = () => track(createIndexedDbStorage({ name }));
      return { store: open(), reopen: open };
    },
  },
];

const state = {
  seq: 42,
  epoch: 'e-1',
  drafts: [{ id: 'd-1', items: [{ productId: 'P-1', quantity: 2, price: null }], notes: 'über €5 — "quoted"' }],
  outbox: [],
};

for (const v of variants) {
  describe(`storage: ${v.name}`, () => {
    it('a key never set reads as undefined', async () => {
      expect(await v.fresh().store.get('nothing')).toBeUndefined();
    });

    it('gives back what was set, nested JSON and non-ASCII text included', async () => {
      const s = v.fresh().store;
      await s.set('state', state);
      expect(await s.get('state')).toEqual(state);
      await s.set('n', 0);
      await s.set('flag', false);
      await s.set('none', null);
      expect([await s.get('n'), await s.get('flag'), await s.get('none')]).toEqual([0, false, null]);
    });

    it('stores a copy: changing the object after set, or what get returned, changes nothing stored', async () => {
      const s = v.fresh().store;
      const value = structuredClone(state);
      await s.set('state', value);
      value.seq = 99;
      const read = await s.get<typeof state>('state');
      read!.drafts[0]!.notes = 'changed';
      expect(await s.get('state')).toEqual(state);
    });

    it('gives back plain data, as JSON would: a Date becomes its ISO string, undefined fields go', async () => {
      const s = v.fresh().store;
      await s.set('k', { at: new Date('2030-01-01T00:00:00.000Z'), gone: undefined });
      expect(await s.get('k')).toEqual({ at: '2030-01-01T00:00:00.000Z' });
    });

    it('set replaces the value; delete removes it, and deleting a missing key is fine', async () => {
      const s = v.fresh().store;
      await s.set('k', { v: 1 });
      await s.set('k', { v: 2 });
      await s.set('other', 'kept');
      expect(await s.get('k')).toEqual({ v: 2 });
      await s.delete('k');
      await s.delete('k');
      await s.delete('never-there');
      expect(await s.get('k')).toBeUndefined();
      expect(await s.get('other')).toBe('kept');
    });

    if (v.name !== 'memory') {
      it('what was saved is there after a reload (the store opened again)', async () => {
        const { store, reopen } = v.fresh();
        await store.set('state', state);
        await store.close?.();
        expect(await reopen!().get('state')).toEqual(state);
      });
    }
  });
}

describe('storage: localStorage specifics', () => {
  it('keeps values as JSON strings under prefix + key, so two apps on one origin do not collide', async () => {
    const web = new WebStorage();
    const a = createLocalStorage({ storage: web, prefix: 'a:' });
    const b = createLocalStorage({ storage: web, prefix: 'b:' });
    await a.set('state', { seq: 1 });
    await b.set('state', { seq: 2 });
    expect(web.items.get('a:state')).toBe('{"seq":1}');
    expect(await a.get('state')).toEqual({ seq: 1 });
    expect(await b.get('state')).toEqual({ seq: 2 });
    await a.delete('state');
    expect([...web.items.keys()]).toEqual(['b:state']);
  });

  it('a full quota rejects the save (the caller sees it) and leaves the previous value readable', async () => {
    const s = createLocalStorage({ storage: new WebStorage(200) });
    await s.set('state', { seq: 1 });
    await expect(s.set('state', { seq: 2, big: 'x'.repeat(500) })).rejects.toMatchObject({ name: 'QuotaExceededError' });
    expect(await s.get('state')).toEqual({ seq: 1 });
  });

  it('without a localStorage (Node, a worker) it says so at creation', () => {
    expect(() => createLocalStorage()).toThrow(/needs window\.localStorage/);
  });
});

describe('storage: IndexedDB specifics', () => {
  it('two databases by name are separate', async () => {
    const a = track(createIndexedDbStorage({ name: `a-${Math.random()}` }));
    const b = track(createIndexedDbStorage({ name: `b-${Math.random()}` }));
    await a.set('state', { seq: 1 });
    expect(await b.get('state')).toBeUndefined();
  });

  it('without an indexedDB it says so at creation', () => {
    const g = globalThis as { indexedDB?: unknown };
    const saved = g.indexedDB;
    try {
      g.indexedDB = undefined;
      expect(() => createIndexedDbStorage()).toThrow(/needs indexedDB/);
    } finally {
      g.indexedDB = saved;
    }
  });
});
