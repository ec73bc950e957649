import { describe, expect, it } from 'vitest';
import type { DeviceEvent } from '../device.js';
import type { EngineResult } from './engine.js';
import { parseLatencyOptions } from './options.js';
import { buildReport, GateExit, reportJunit, reportText } from './report.js';
import { createHistogram } from './stats.js';
import { Tracker, type WriteRecord } from './tracker.js';

const ev = (seq: number, type: string, receivedAt: number, payload: unknown = {}): DeviceEvent => ({
  type,
  payload,
  timestamp: new Date().toISOString(),
  seq,
  originDeviceId: null,
  own: false,
  replayed: false,
  receivedAt,
});

const write = (n: number, user: number, due: number, ids: string[] = [`id-${user}-${n}`]): WriteRecord => ({
  n,
  user,
  kind: 'create',
  due,
  warmup: false,
  ids,
  expected: null,
  got: new Map(),
  done: false,
});

function result(tracker: Tracker, flags: Parameters<typeof parseLatencyOptions>[0] = {}): EngineResult {
  return {
    config: parseLatencyOptions({ runId: 'test', users: '2', devices: '3', ...flags }),
    urls: ['http://127.0.0.1:1'],
    startedAt: new Date(0),
    finishedAt: new Date(10_000),
    interrupted: false,
    tracker,
    writesScheduled: 2,
    writesSent: 2,
    warmupWrites: 0,
    byKind: { create: 2 },
    measuredElapsedMs: 1000,
    lateness: createHistogram(),
    eventLoop: { p50Ms: 0, p99Ms: 1, maxMs: 2, meanMs: 0 },
    deviceErrors: [],
    cleanup: { deleted: 0, failed: 0, skipped: true },
  };
}

describe('tracker and report', () => {
  it('times a write by its slowest observer, matching events that arrive before the response', () => {
    const t = new Tracker({ users: 2, devices: 3 });
    const w = write(0, 0, 1000);
    t.register(w);
    // Device 1 gets the event before the REST response is back: held, then matched.
    t.onEvent(0, 1, ev(1, 'DRAFT_CREATED', 1010, { draftId: 'id-0-0' }));
    t.resolve(w, 1, ['DRAFT_CREATED'], 12);
    t.onEvent(0, 2, ev(1, 'DRAFT_CREATED', 1030, { draftId: 'id-0-0' }));
    expect(t.outstanding).toBe(1); // the writer has not had its echo yet
    t.onEvent(0, 0, ev(1, 'DRAFT_CREATED', 1005, { draftId: 'id-0-0' }));
    expect(t.outstanding).toBe(0);
    t.finish();
    const r = buildReport(result(t));
    expect(r.latency.delivery.count).toBe(1);
    expect(r.latency.delivery.maxMs).toBeCloseTo(30, 1); // the slowest observer, not the writer's echo
    expect(r.latency.byDevice).toHaveLength(2);
    expect(r.latency.rest.p50Ms).toBeCloseTo(12, 1);
    expect(r.correctness).toMatchObject({ missing: 0, duplicates: 0, crossUser: 0, unexpected: 0, expectedDeliveries: 3, delivered: 3 });
    expect(r).toMatchObject({ status: 'pass', exitCode: GateExit.PASS, schemaVersion: 1 });
    expect(r.latency.timeline).toHaveLength(1);
    expect(r.latency.timeline[0]).toMatchObject({ second: 0, writes: 1 });
  });

  it('counts the events of a write that failed on the wire apart from unexpected ones', () => {
    const t = new Tracker({ users: 1, devices: 2 });
    const w = write(0, 0, 0, ['draft-a']);
    t.register(w);
    t.onEvent(0, 1, ev(1, 'DRAFT_CREATED', 5, { draftId: 'draft-a' })); // committed, but the response was lost
    t.fail(w, 'create POST /api/drafts: fetch failed (ECONNRESET)');
    t.onEvent(0, 1, ev(2, 'DRAFT_DELETED', 6, { draftId: 'nobody-wrote-this' }));
    t.finish();
    expect(t.counts).toMatchObject({ ofFailedWrites: 1, unexpected: 1, writesFailed: 1 });
    const r = buildReport(result(t, { users: '1', devices: '2' }));
    expect(r.writes.failures).toEqual(['create POST /api/drafts: fetch failed (ECONNRESET)']);
    expect(r.status).toBe('correctness_failed');
  });

  it('counts missing, duplicate, out-of-order and cross-user events, and fails with exit 4', () => {
    const t = new Tracker({ users: 2, devices: 3 });
    const a = write(0, 0, 0);
    const b = write(1, 1, 0);
    t.register(a);
    t.register(b);
    t.resolve(a, 1, ['DRAFT_CREATED'], 5);
    t.resolve(b, 1, ['DRAFT_CREATED'], 5);
    t.onEvent(0, 1, ev(1, 'DRAFT_CREATED', 10, { draftId: 'id-0-0' }));
    t.onEvent(0, 1, ev(1, 'DRAFT_CREATED', 11, { draftId: 'id-0-0' })); // seq again: out of order, and a duplicate
    t.onEvent(0, 2, ev(2, 'DRAFT_CREATED', 12, { draftId: 'id-1-1' })); // user 1's draft on user 0's device
    t.onDuplicate();
    t.finish();
    const r = buildReport(result(t));
    expect(r.correctness.crossUser).toBe(1);
    expect(r.correctness.duplicates).toBe(2);
    expect(r.correctness.outOfOrder).toBe(1);
    expect(r.correctness.missing).toBe(6 - 1);
    expect(r.latency.delivery.count).toBe(0);
    expect(r).toMatchObject({ status: 'correctness_failed', exitCode: GateExit.CORRECTNESS });
    const xml = reportJunit(r);
    expect(xml).toMatch(/<testcase classname="rtctl\.latency\.correctness" name="cross-user"[^>]*>\s*<failure message="cross-user = 1/);
    expect(xml).toMatch(/name="p99&lt;100 \(delivery p99 &lt; 100 ms\)"[^>]*>\s*<failure message="delivery p99 &lt; 100 ms: no samples"/);
    expect(reportText(r)).toMatch(/FAIL: correctness \(exit 4\)/);
  });

  it('tolerates loss up to --max-loss, and a missed threshold alone exits 99', () => {
    const t = new Tracker({ users: 1, devices: 2 });
    for (let i = 0; i < 200; i += 1) {
      const w = write(i, 0, i * 10);
      t.register(w);
      t.resolve(w, i + 1, ['DRAFT_CREATED'], 1);
      t.onEvent(0, 0, ev(i + 1, 'DRAFT_CREATED', i * 10 + 1));
      if (i !== 7) t.onEvent(0, 1, ev(i + 1, 'DRAFT_CREATED', i * 10 + (i % 50 === 0 ? 500 : 5)));
    }
    t.finish();
    const lossy = buildReport(result(t, { users: '1', devices: '2', maxLoss: '1%', p99: '100' }));
    expect(lossy.correctness.missing).toBe(1);
    expect(lossy.correctness.checks.find((c) => c.name === 'missing')!.pass).toBe(true);
    // 4 of 199 samples at 500 ms: p99 is 500 ms.
    expect(lossy).toMatchObject({ status: 'threshold_failed', exitCode: GateExit.THRESHOLD });
    expect(lossy.warnings.some((w) => /p99\.9: only 199 sample/.test(w))).toBe(true);
    const strict = buildReport(result(t, { users: '1', devices: '2', p99: '1000' }));
    expect(strict).toMatchObject({ status: 'correctness_failed', exitCode: GateExit.CORRECTNESS });
  });
});
