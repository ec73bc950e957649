import { describe, expect, it } from 'vitest';
import type { DeviceEvent } from '../../../client/src/realtime.js';
import type { EngineResult } from './engine.js';
import { parseLatencyOptions } from './options.js';
import { buildReport, GateExit, reportJunit, reportText } from './report.js';
import { createHistogram } from './stats.js';
import { Tracker, writeRecord, type WriteRecord } from './tracker.js';

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

const write = (n: number, user: number, due: number, ids: string[] = [`id-${user}-${n}`]): WriteRecord => writeRecord({ n, user, kind: 'create', due, warmup: false, ids });

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
    cpu: { userMs: 3, systemMs: 1, wallMs: 1000 },
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
    // 4 ms of CPU (3 user + 1 system) over 2 measured writes, in 1 s: 0.4 % of a core.
    expect(r.harness).toMatchObject({ cpuMsPerWrite: 2, cpu: { userMs: 3, systemMs: 1, wallMs: 1000, coreShare: 0.004 } });
    expect(reportText(r)).toContain('CPU 2.000 ms/write');
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

  it('counts missing, duplicate, out-of-order and cross-user events as a Device reports them, and fails with exit 4', () => {
    const t = new Tracker({ users: 2, devices: 3 });
    const a = write(0, 0, 0);
    const b = write(1, 1, 0);
    t.register(a);
    t.register(b);
    t.resolve(a, 1, ['DRAFT_CREATED'], 5);
    t.resolve(b, 1, ['DRAFT_CREATED'], 5);
    const mine = ev(1, 'DRAFT_CREATED', 10, { draftId: 'id-0-0' });
    const theirs = ev(1, 'DRAFT_CREATED', 12, { draftId: 'id-1-1' }); // user 1's draft, at a seq of user 0's log
    t.onEvent(0, 1, mine);
    t.onDropped(0, 1, mine, 'resent'); // the answer to the device's RESUME: expected, not counted
    t.onDropped(0, 1, mine, 'duplicate'); // a third copy: a duplicate
    t.onDropped(0, 1, theirs, 'duplicate'); // foreign, at a seq the device had passed: cross-user, not a duplicate
    t.onEvent(0, 2, theirs); // foreign, delivered in the slot of seq 1: cross-user, and device 2 misses a's event
    t.onDropped(0, 2, theirs, 'resent'); // the same foreign frame again: counted once per device and seq
    t.onDropped(0, 2, { ...mine, receivedAt: 13 }, 'discarded'); // held and discarded: not an error by itself
    t.onGap();
    t.finish();
    const r = buildReport(result(t));
    expect(r.correctness).toMatchObject({ crossUser: 2, duplicates: 1, outOfOrder: 1, unexpected: 0 });
    expect(r.correctness.missing).toBe(6 - 1); // a reached device 1 only; b reached no device
    expect(r.latency.delivery.count).toBe(0);
    expect(r).toMatchObject({ status: 'correctness_failed', exitCode: GateExit.CORRECTNESS });
    const xml = reportJunit(r);
    expect(xml).toMatch(/<testcase classname="rtctl\.latency\.correctness" name="cross-user"[^>]*>\s*<failure message="cross-user = 2/);
    expect(xml).toMatch(/name="p99&lt;100 \(delivery p99 &lt; 100 ms\)"[^>]*>\s*<failure message="delivery p99 &lt; 100 ms: no samples"/);
    expect(reportText(r)).toMatch(/FAIL: correctness \(exit 4\)/);
  });

  it('fails a write with no response by the end of the drain, and freezes the counts at finish()', () => {
    const t = new Tracker({ users: 1, devices: 2 });
    const answered = write(0, 0, 0, ['draft-a']);
    const silent = write(1, 0, 50, ['draft-b']);
    t.register(answered);
    t.register(silent);
    t.resolve(answered, 1, ['DRAFT_CREATED'], 3);
    t.onEvent(0, 0, ev(1, 'DRAFT_CREATED', 4, { draftId: 'draft-a' }));
    t.onEvent(0, 1, ev(1, 'DRAFT_CREATED', 6, { draftId: 'draft-a' }));
    // The server committed the second write but its response never came.
    t.onEvent(0, 1, ev(2, 'DRAFT_CREATED', 60, { draftId: 'draft-b' }));
    expect(t.outstanding).toBe(1);
    t.finish();
    expect(t.outstanding).toBe(0);
    expect(t.counts).toMatchObject({ writesOk: 1, writesFailed: 1, ofFailedWrites: 1, unexpected: 0, missing: 0 });
    expect(t.failures).toEqual(['create #1: no response by the end of the drain']);
    const before = structuredClone(t.counts);
    // Late arrivals (while the devices close, during cleanup) change nothing.
    t.resolve(silent, 2, ['DRAFT_CREATED'], 9_000);
    t.fail(silent, 'create POST /api/drafts: This operation was aborted');
    t.onEvent(0, 0, ev(2, 'DRAFT_CREATED', 9_001, { draftId: 'draft-b' }));
    t.onDropped(0, 0, ev(2, 'DRAFT_CREATED', 9_002, { draftId: 'draft-b' }), 'duplicate');
    t.onGap();
    t.onReconnect();
    t.finish();
    expect(t.counts).toEqual(before);
    expect(t.delivery.totalCount).toBe(1);
    expect(t.rest.totalCount).toBe(1);
    const r = buildReport(result(t, { users: '1', devices: '2', p99: '1000' }));
    expect(r.writes).toMatchObject({ ok: 1, failed: 1 });
    expect(r.correctness.checks.find((c) => c.name === 'failed-writes')).toMatchObject({ value: 1, pass: false });
    expect(r).toMatchObject({ status: 'correctness_failed', exitCode: GateExit.CORRECTNESS });
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
