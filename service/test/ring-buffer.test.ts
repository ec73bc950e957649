import { describe, expect, it } from 'vitest';
import { RingBuffer } from '../src/realtime/ring-buffer.js';

const ev = (seq: number, timestampMs = Date.now()) => ({ seq, type: 'T', timestampMs, bytes: Buffer.from(`{"seq":${seq}}`) });

describe('RingBuffer', () => {
  it('keeps the newest maxEvents and serves a range only when it holds all of it', () => {
    const r = new RingBuffer(3, 60_000);
    for (let s = 1; s <= 5; s += 1) r.push(ev(s), 1_000);
    expect(r.size).toBe(3);
    expect([r.firstSeq, r.lastSeq]).toEqual([3, 5]);
    expect(r.range(2, 5, 1_000)?.map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(r.range(3, 4, 1_000)?.map((e) => e.seq)).toEqual([4]);
    expect(r.range(1, 5, 1_000)).toBeNull(); // seq 2 was evicted
    expect(r.range(4, 6, 1_000)).toBeNull(); // seq 6 not there yet
    expect(r.range(5, 5, 1_000)).toEqual([]);
    expect(r.bytes).toBe([3, 4, 5].reduce((n, s) => n + ev(s).bytes.length, 0));
  });

  it('drops events older than the TTL', () => {
    const r = new RingBuffer(100, 1_000);
    r.push(ev(1, 0), 0);
    r.push(ev(2, 900), 900);
    expect(r.range(0, 2, 1_500)).toBeNull();
    expect(r.range(1, 2, 1_500)?.map((e) => e.seq)).toEqual([2]);
    expect(r.snapshot(2_000)).toEqual([]);
    expect(r.bytes).toBe(0);
  });

  it('never holds a run with a hole: a non-contiguous push restarts it', () => {
    const r = new RingBuffer(10, 60_000);
    r.push(ev(1));
    r.push(ev(2));
    r.push(ev(5));
    expect([r.firstSeq, r.lastSeq, r.size]).toEqual([5, 5, 1]);
  });

  it('compacts its storage over a long run without losing order', () => {
    const r = new RingBuffer(50, 1e9);
    for (let s = 1; s <= 10_000; s += 1) r.push(ev(s));
    expect(r.size).toBe(50);
    expect(r.range(9_950, 10_000)?.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 9_951 + i));
  });
});
