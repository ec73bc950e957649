import { describe, expect, it } from 'vitest';
import { serverFrameSchema } from '../../../service/src/protocol/index.js';
import { checkServerFrame, readServerFrame } from './frame.js';

const ts = '2026-01-01T00:00:00.000Z';

// Every shape the protocol's loose schema decides on, plus the edges of seq and originDeviceId.
const cases: unknown[] = [
  { type: 'DRAFT_CREATED', payload: { draftId: 'd1' }, timestamp: ts, seq: 1, originDeviceId: 'dev-a' },
  { type: 'JOB_PROGRESS', payload: { progress: 0.5 }, timestamp: ts, originDeviceId: null },
  { type: 'HELLO', payload: { latestSeq: 0 }, timestamp: ts },
  { type: 'PONG', timestamp: ts }, // payload absent: refused (z.unknown() in an object wants the key)
  { type: 'PONG', timestamp: ts, payload: undefined },
  { type: 'X', payload: null, timestamp: ts, seq: Number.MAX_SAFE_INTEGER, extra: true },
  { type: 'X', payload: {}, timestamp: ts, seq: 0 },
  { type: 'X', payload: {}, timestamp: ts, seq: -1 },
  { type: 'X', payload: {}, timestamp: ts, seq: 1.5 },
  { type: 'X', payload: {}, timestamp: ts, seq: Number.MAX_SAFE_INTEGER + 1 },
  { type: 'X', payload: {}, timestamp: ts, seq: '1' },
  { type: 'X', payload: {}, timestamp: ts, seq: null },
  { type: 'X', payload: {}, timestamp: ts, originDeviceId: 7 },
  { type: 'X', payload: {}, timestamp: 1 },
  { type: 'X', payload: {} },
  { type: 1, payload: {}, timestamp: ts },
  { payload: {}, timestamp: ts },
  [],
  ['HELLO'],
  null,
  'HELLO',
  42,
];

describe('readServerFrame', () => {
  it('accepts and refuses exactly what the protocol schema does', () => {
    for (const raw of cases) {
      const verdict = serverFrameSchema.safeParse(raw).success;
      expect({ raw, ok: checkServerFrame(raw) !== null }).toEqual({ raw, ok: verdict });
    }
  });

  it('gives the fields the device reads', () => {
    const r = readServerFrame(JSON.stringify({ type: 'DRAFT_DELETED', payload: { draftId: 'd1' }, timestamp: ts, seq: 3, originDeviceId: 'a' }));
    expect(r).toEqual({ ok: true, frame: expect.objectContaining({ type: 'DRAFT_DELETED', payload: { draftId: 'd1' }, timestamp: ts, seq: 3, originDeviceId: 'a' }) });
  });

  it('tells a frame that is not JSON from a malformed one, without throwing', () => {
    expect(readServerFrame('{"type":')).toEqual({ ok: false, reason: 'not_json' });
    expect(readServerFrame('')).toEqual({ ok: false, reason: 'not_json' });
    expect(readServerFrame('{"type":"X","timestamp":"t","seq":0}')).toEqual({ ok: false, reason: 'malformed' });
    expect(readServerFrame('null')).toEqual({ ok: false, reason: 'malformed' });
  });
});
