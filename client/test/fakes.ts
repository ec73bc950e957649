/**
 * Test fakes for the unit tests of the store and the queue: an in-memory stand-in for the REST
 * reads the store makes, and record builders. The end-to-end tests use the real service instead.
 */
import type { Draft, PendingOrder } from '../../service/src/protocol/index.js';
import type { StoreOptions } from '../src/store.js';
import type { ClientEvent } from '../src/types.js';

let clock = Date.parse('2030-01-01T00:00:00.000Z');
export const tick = (ms = 1000) => new Date((clock += ms)).toISOString();

export function draft(id: string, over: Partial<Draft> = {}): Draft {
  const t = over.updatedAt ?? tick();
  return {
    id,
    deviceId: 'other',
    customerId: 'C-1',
    customerName: 'Rossi Srl',
    items: [{ productId: 'P-1', quantity: 1, price: null, notes: null }],
    notes: null,
    updatedAt: t,
    serverUpdatedAt: t,
    version: 1,
    deleted: false,
    deletedAt: null,
    convertedTo: null,
    ...over,
  };
}

export function order(id: string, over: Partial<PendingOrder> = {}): PendingOrder {
  const t = over.updatedAt ?? tick();
  return {
    id,
    deviceId: 'other',
    customerId: 'C-1',
    customerName: 'Rossi Srl',
    items: [{ productId: 'P-1', quantity: 1, price: null, notes: null }],
    notes: null,
    updatedAt: t,
    serverUpdatedAt: t,
    version: 1,
    status: 'pending',
    erpOrderNumber: null,
    jobId: null,
    sourceDraftId: null,
    ...over,
  };
}

export function ev(seq: number, type: string, payload: unknown, origin: string | null = 'other'): ClientEvent & { seq: number } {
  return { type, payload, seq, timestamp: tick(1), originDeviceId: origin, own: origin === 'me', replayed: false };
}

/** What the store reads, answered from maps the test changes; `hold()` makes the batch read wait. */
export function fakeServer() {
  const drafts = new Map<string, Draft>();
  const pending = new Map<string, PendingOrder>();
  const calls: string[] = [];
  const state = { seq: 0, gate: null as Promise<void> | null };
  const rest = {
    drafts: {
      list: async (q: { includeDeleted?: boolean } = {}) => {
        calls.push('drafts.list');
        return { items: [...drafts.values()].filter((d) => q.includeDeleted || !d.deleted), seq: state.seq };
      },
    },
    pendingOrders: {
      list: async () => {
        calls.push('pending.list');
        return { items: [...pending.values()], seq: state.seq };
      },
      getMany: async (ids: readonly string[]) => {
        calls.push(`getMany:${ids.join(',')}`);
        if (state.gate) await state.gate;
        return { items: ids.flatMap((id) => (pending.has(id) ? [pending.get(id)!] : [])), seq: null };
      },
    },
  } as unknown as StoreOptions['rest'];
  let release: () => void = () => undefined;
  return {
    drafts,
    pending,
    calls,
    state,
    rest,
    hold() {
      state.gate = new Promise((r) => (release = r));
    },
    release() {
      state.gate = null;
      release();
    },
  };
}
