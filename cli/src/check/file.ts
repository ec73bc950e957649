/**
 * User scenarios from a JSON or YAML file (schema in cli/LATENCY.md, example in
 * cli/examples/check-scenario.yaml): devices of named users, then steps run in order: connect,
 * disconnect, write, wait, expect. An `expect` waits until a device has received events of the
 * given types, in order, within N ms of the last write (and, with `exact`, nothing else, still true
 * a short settle time later). At the end, every device's stored events must be gapless and free of
 * duplicates, as in the built-in scenarios.
 */
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { usageError } from '../errors.js';
import { assertGapless, CheckFailure, draftBody, fail, orderBody, sleep, type RecordingDevice, type ScenarioRuntime } from './runtime.js';

/** After an `exact` expect matched, how long to watch for one event too many (ms, before scaling). */
const EXACT_SETTLE_MS = 100;

const name = z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, 'letters, digits, _ and - (1 to 40)');

const writeOp = z.object({
  as: name.describe('the device that writes (its id goes in X-Device-Id; it need not be connected)'),
  op: z.enum(['create-draft', 'update-draft', 'delete-draft', 'convert-draft', 'upsert-pending', 'delete-pending', 'submit-pending']),
  ref: name.optional().describe('names the entity: set by create-draft/upsert-pending/convert-draft, used by the others'),
  count: z.number().int().min(1).max(500).optional().describe('upsert-pending: orders in the batch (default 1)'),
  expectStatus: z.number().int().optional(),
});

const step = z.union([
  z.object({ connect: name, lastSeq: z.number().int().min(0).optional(), epoch: z.string().optional() }).strict(),
  z.object({ disconnect: name }).strict(),
  z.object({ write: writeOp }).strict(),
  z.object({ wait: z.number().int().min(0).max(600_000) }).strict(),
  z
    .object({
      expect: z
        .object({
          device: name,
          types: z.array(z.string().min(1)).min(1),
          within: z.number().int().min(1).max(600_000).default(3000),
          exact: z.boolean().default(false),
        })
        .strict(),
    })
    .strict(),
  z.object({ expectNone: z.object({ device: name, for: z.number().int().min(1).max(60_000).default(500) }).strict() }).strict(),
]);

export const scenarioFileSchema = z
  .object({
    name: z.string().min(1).max(100),
    description: z.string().optional(),
    devices: z.array(z.object({ name, user: name }).strict()).min(1),
    steps: z.array(step).min(1),
  })
  .strict();

export type ScenarioFile = z.infer<typeof scenarioFileSchema>;

export function loadScenarioFile(path: string): ScenarioFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw usageError(`Cannot read scenario file ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw usageError(`Scenario file ${path} is not valid ${/\.json$/i.test(path) ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = scenarioFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw usageError(`Scenario file ${path}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const devices = new Set(parsed.data.devices.map((d) => d.name));
  for (const s of parsed.data.steps) {
    const dev = 'connect' in s ? s.connect : 'disconnect' in s ? s.disconnect : 'expect' in s ? s.expect.device : 'expectNone' in s ? s.expectNone.device : 'write' in s ? s.write.as : null;
    if (dev !== null && !devices.has(dev)) throw usageError(`Scenario file ${path}: step names device '${dev}', which is not in devices`);
  }
  return parsed.data;
}

/** Run a file scenario on the runtime. */
export async function runScenarioFile(rt: ScenarioRuntime, file: ScenarioFile): Promise<void> {
  const userOf = new Map(file.devices.map((d) => [d.name, rt.userId(d.user)]));
  const connected = new Map<string, RecordingDevice>();
  /** Every connection made, and the lastSeq it resumed from (undefined: it started live). */
  const sessions: { d: RecordingDevice; resumedFrom: number | undefined }[] = [];
  /** Per device: how many events an earlier expect already consumed. */
  const consumed = new Map<string, number>();
  const refs = new Map<string, { kind: 'draft' | 'pending'; ids: string[] }>();
  let lastWriteAt = performance.now();

  for (const [i, s] of file.steps.entries()) {
    const where = `step ${i + 1}`;
    if ('connect' in s) {
      const prev = connected.get(s.connect);
      if (prev && prev.device.state !== 'stopped') fail(`${where}: ${s.connect} is already connected`);
      const lastSeq = s.lastSeq ?? prev?.device.lastSeq ?? undefined;
      const d = await rt.connect(s.connect, userOf.get(s.connect)!, { lastSeq, epoch: s.epoch ?? prev?.device.epoch ?? undefined });
      connected.set(s.connect, d);
      sessions.push({ d, resumedFrom: lastSeq });
      consumed.set(s.connect, 0);
    } else if ('disconnect' in s) {
      const d = connected.get(s.disconnect);
      if (!d) fail(`${where}: ${s.disconnect} is not connected`);
      await d.device.close();
    } else if ('wait' in s) {
      await sleep(s.wait);
    } else if ('write' in s) {
      await write(rt, s.write, userOf.get(s.write.as)!, refs, where);
      lastWriteAt = performance.now();
    } else if ('expect' in s) {
      const e = s.expect;
      const d = connected.get(e.device) ?? fail(`${where}: ${e.device} was never connected`);
      const from = consumed.get(e.device) ?? 0;
      const deadline = lastWriteAt + rt.ms(e.within);
      const matchEnd = () => subsequenceEnd(d.types(from), e.types);
      await d.waitFor(() => matchEnd() !== -1, Math.max(0, deadline - performance.now()), e.types.join(', ')).catch(() => {
        throw new CheckFailure(`${where}: ${e.device}: no ${e.types.join(', ')} (in order) within ${e.within} ms of the last write; got ${d.describe()}`);
      });
      let end = matchEnd();
      if (e.exact) {
        await sleep(rt.ms(EXACT_SETTLE_MS)); // an extra event right after the match must be seen
        end = matchEnd();
      }
      if (e.exact && d.types(from).length !== e.types.length) fail(`${where}: ${e.device} should have received exactly ${e.types.join(', ')}; got ${d.types(from).join(', ')}`);
      consumed.set(e.device, from + (e.exact ? e.types.length : end));
    } else if ('expectNone' in s) {
      const d = connected.get(s.expectNone.device) ?? fail(`${where}: ${s.expectNone.device} was never connected`);
      await sleep(rt.ms(s.expectNone.for));
      const from = consumed.get(s.expectNone.device) ?? 0;
      if (d.events.length > from) fail(`${where}: ${d.name} received ${d.types(from).join(', ')} where nothing more was expected`);
      consumed.set(s.expectNone.device, d.events.length);
    }
  }
  for (const { d, resumedFrom } of sessions) {
    // A resumed device continues right after the seq it resumed from; a live one after HELLO's
    // latestSeq; after a resync, from wherever the server said.
    const first = d.resyncs.length > 0 ? undefined : (resumedFrom ?? d.hellos[0]!.latestSeq) + 1;
    assertGapless(d, first);
  }
}

/** Index after the last matched element if `want` is a subsequence of `got`, else -1. */
export function subsequenceEnd(got: readonly string[], want: readonly string[]): number {
  let j = 0;
  for (let i = 0; i < got.length && j < want.length; i += 1) {
    if (got[i] === want[j]) {
      j += 1;
      if (j === want.length) return i + 1;
    }
  }
  return want.length === 0 ? 0 : -1;
}

async function write(rt: ScenarioRuntime, w: z.infer<typeof writeOp>, userId: string, refs: Map<string, { kind: 'draft' | 'pending'; ids: string[] }>, where: string): Promise<void> {
  const ref = (kind: 'draft' | 'pending') => {
    const r = w.ref ? refs.get(w.ref) : undefined;
    if (!r || r.kind !== kind) fail(`${where}: ${w.op} needs ref naming a ${kind === 'draft' ? 'draft (create-draft)' : 'pending order (upsert-pending or convert-draft)'}`);
    return r.ids[0]!;
  };
  const status = (def: number | number[]) => w.expectStatus ?? def;
  switch (w.op) {
    case 'create-draft': {
      const id = randomUUID();
      await rt.must(status(201), userId, 'POST', '/api/drafts', draftBody({ id }), w.as);
      if (w.ref) refs.set(w.ref, { kind: 'draft', ids: [id] });
      return;
    }
    case 'update-draft': {
      const id = ref('draft');
      await rt.must(status(200), userId, 'PUT', `/api/drafts/${id}`, draftBody({ id, notes: `updated ${Date.now()}`, updatedAt: new Date(Date.now() + 1).toISOString() }), w.as);
      return;
    }
    case 'delete-draft':
      await rt.must(status(200), userId, 'DELETE', `/api/drafts/${ref('draft')}`, undefined, w.as);
      return;
    case 'convert-draft': {
      const body = await rt.must(status([200, 201]), userId, 'POST', `/api/drafts/${ref('draft')}/convert`, undefined, w.as);
      if (w.ref && body?.pendingOrderId) refs.set(w.ref, { kind: 'pending', ids: [body.pendingOrderId] });
      return;
    }
    case 'upsert-pending': {
      const orders = Array.from({ length: w.count ?? 1 }, () => orderBody());
      await rt.must(status(200), userId, 'POST', '/api/pending-orders', { orders }, w.as);
      if (w.ref) refs.set(w.ref, { kind: 'pending', ids: orders.map((o) => o.id) });
      return;
    }
    case 'delete-pending':
      await rt.must(status(200), userId, 'DELETE', `/api/pending-orders/${ref('pending')}`, undefined, w.as);
      return;
    case 'submit-pending':
      await rt.must(status(202), userId, 'POST', `/api/pending-orders/${ref('pending')}/submit`, undefined, w.as);
      return;
  }
}
