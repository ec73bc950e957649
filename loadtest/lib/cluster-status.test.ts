import { describe, expect, it } from 'vitest';
import { defaultInstances } from '../cluster-scale.js';
import { sliceUsers } from './cluster-clients.js';
import { delta, deviceInstanceOrder, mergeStatus, type Status } from './cluster-status.js';

describe('cluster-scale layout', () => {
  it('needs 7 instances for 100,000 devices at 20,000 descriptors (6 must hold them after the storm), never fewer than 6', () => {
    expect(defaultInstances(100_000, 20_000)).toBe(7);
    expect(defaultInstances(6_000, 20_000)).toBe(6);
    expect(Math.ceil(100_000 / (defaultInstances(100_000, 20_000) - 1))).toBeLessThanOrEqual(20_000 - 1_500);
  });

  it("puts a user's 3 devices on 3 instances and spreads a stopped instance's devices over all the others", () => {
    const n = 7;
    for (let u = 0; u < 1000; u += 1) {
      const primaries = new Set([0, 1, 2].map((d) => deviceInstanceOrder(u * 3 + d, n)[0]));
      expect(primaries.size).toBe(3);
    }
    const fallback = new Map<number, number>();
    for (let i = 6; i < 100_000; i += n) {
      const order = deviceInstanceOrder(i, n);
      expect(order[0]).toBe(6);
      expect(new Set(order).size).toBe(n);
      fallback.set(order[1]!, (fallback.get(order[1]!) ?? 0) + 1);
    }
    expect([...fallback.keys()].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    const counts = [...fallback.values()];
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  });

  it('gives every device to exactly one worker, whole users, on addresses of its own', () => {
    const slices = sliceUsers(100_000, 3, 7);
    expect(slices[0]!.deviceFrom).toBe(0);
    expect(slices.at(-1)!.deviceTo).toBe(100_000);
    for (let w = 1; w < slices.length; w += 1) {
      expect(slices[w]!.deviceFrom).toBe(slices[w - 1]!.deviceTo);
      expect(slices[w]!.deviceFrom % 3).toBe(0);
    }
    const addrs = slices.flatMap((s) => s.addrs);
    expect(new Set(addrs).size).toBe(addrs.length);
    for (const s of slices) expect((s.deviceTo - s.deviceFrom) / s.addrs.length).toBeLessThanOrEqual(12_000);
  });
});

describe('cluster-scale counters', () => {
  const status = (o: Partial<Status>): Status => ({
    open: 0, down: 0, perInstance: [0, 0], closesByCode: {}, failuresByCause: {}, connectFailures: 0, reconnects: 0, stopped: 0, resyncs: 0, gaps: 0, gapEvents: 0, duplicates: 0, lastBackAt: 0, ...o,
  });

  it('adds the workers up and keeps the latest return', () => {
    const m = mergeStatus([
      status({ open: 2, perInstance: [1, 1], closesByCode: { 1012: 3 }, lastBackAt: 5 }),
      status({ open: 1, down: 1, perInstance: [0, 1], closesByCode: { 1012: 1, 4408: 2 }, lastBackAt: 9 }),
    ]);
    expect(m).toMatchObject({ open: 3, down: 1, perInstance: [1, 2], closesByCode: { 1012: 4, 4408: 2 }, lastBackAt: 9 });
  });

  it('reports only what changed between two samples', () => {
    expect(delta({ 1012: 4, 4408: 2 }, { 1012: 10, 4408: 2, 1006: 1 })).toEqual({ 1012: 6, 1006: 1 });
  });
});
