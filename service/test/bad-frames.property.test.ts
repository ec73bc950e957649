/**
 * A generated bad-input corpus over /ws/realtime (Hardening, item 4), against the real service.
 * fast-check makes sessions from a fixed seed (printed; FC_SEED=<n> replays another): upgrades with a
 * broken query or Authorization (HTTP 400/401 JSON before the upgrade), and sockets that send PING,
 * RESUME, AUTH (good, expired, forged, another user's), unknown types, random JSON, non-JSON,
 * binary and oversized frames, some before HELLO. Each session: HELLO first, one answer per frame
 * (PONG with the clientTime, AUTH_OK, ERROR { code, message }), only 1008/1009 as closes, no leak,
 * only the user's own events. Every BATCH sessions: ready, a known-good write reaches the user's
 * observer device once and in order, nothing else was written, the other user's device got nothing.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusSeed, sendRaw, Tally, type RawResponse } from './support/corpus.js';
import { WriteModel } from './support/corpus-model.js';
import { runSession, sessionArb, sessionProblems, type SessionContext } from './support/corpus-ws.js';
import { mintToken, newDraft, sleep, startService, storageVariants, type TestService } from './support/harness.js';

const SEED = corpusSeed(20_240_612);
const SESSIONS = 110;
const BATCH = 20;

describe.each(storageVariants())('generated bad-frame corpus over WebSocket ($kind)', ({ kind, skip }) => {
  let svc: TestService;
  beforeAll(async () => {
    // The smallest frame limit the config takes, so oversized frames stay cheap.
    if (!skip) svc = await startService({ storage: kind, logLevel: 'warn', env: { WS_MAX_PAYLOAD_BYTES: '4096' } });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it.skipIf(skip)(`${SESSIONS} generated sessions: answers per DESIGN §5, no crash, no write, nothing crosses users`, async () => {
    const userId = `frames-${randomUUID()}`;
    const otherId = `other-${randomUUID()}`;
    const userAuth = `Bearer ${await mintToken(userId)}`;
    const post = (auth: string, body: unknown): Promise<RawResponse> =>
      sendRaw(svc.url, { method: 'POST', path: '/api/drafts', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });

    const otherDevice = await svc.device(otherId, 'other-phone');
    await otherDevice.waitForType('HELLO');
    const observer = await svc.device(userId, 'observer');
    await observer.waitForType('HELLO');
    const model = new WriteModel(new Set());
    const knownGood = async (label: string) => {
      const d = newDraft({ customerName: label });
      const res = await post(userAuth, d);
      expect(res.status, 'known-good write').toBe(201);
      expect(model.apply({ kind: 'draft.create', id: d.id, sent: d, origin: null }, { mustFail: false, predictable: true }, res)).toEqual([]);
    };
    for (let i = 0; i < 3; i++) await knownGood(`seed ${i}`); // a log for RESUME and lastSeq to replay

    const ctx: SessionContext = {
      wsUrl: svc.wsUrl,
      maxFrameBytes: 4096,
      events: model.events,
      tokens: {
        same: await mintToken(userId),
        'admin-same': await mintToken(userId, { admin: true }),
        'other-user': await mintToken(otherId),
        expired: await mintToken(userId, { ttlSec: -60 }),
        'wrong-secret': await mintToken(userId, { secret: 'not-the-secret-0123456789-0123456789' }),
      },
    };
    const tally = new Tally();
    let sessions = 0;
    let frames = 0;

    const checkInvariants = async () => {
      expect((await sendRaw(svc.url, { method: 'GET', path: '/readyz' })).status, 'readyz').toBe(200);
      await knownGood(`known-good ${sessions}`);
      await observer.waitForSeq(model.events.length, 10_000);
      await sleep(30);
      const problems = model.compareEvents(observer.events());
      const drafts = await sendRaw(svc.url, { method: 'GET', path: '/api/drafts?includeDeleted=true', headers: { authorization: userAuth } });
      const pending = await sendRaw(svc.url, { method: 'GET', path: '/api/pending-orders', headers: { authorization: userAuth } });
      problems.push(...model.compareLists(drafts.json as never, pending.json as never));
      if (observer.closeCode !== null) problems.push(`observer closed with ${observer.closeCode}`);
      if (otherDevice.events().length > 0 || otherDevice.closeCode !== null) problems.push(`the other user's device got ${JSON.stringify(otherDevice.events())} / close ${otherDevice.closeCode}`);
      expect(problems, `after session #${sessions} (seed ${SEED})`).toEqual([]);
    };

    process.stdout.write(`[bad-frames corpus ${kind}] seed ${SEED} (replay: FC_SEED=${SEED}), ${SESSIONS} sessions, invariants every ${BATCH}\n`);
    try {
      await fc.assert(
        fc.asyncProperty(sessionArb, async (s) => {
          sessions += 1;
          const out = await runSession(s, ctx);
          frames += out.sent.length + 1; // the upgrade is a case too
          const label = !s.query.ok || !['header', 'query'].includes(s.auth) ? `upgrade ${s.query.ok ? `auth ${s.auth}` : s.query.name}` : `session (${s.auth} token)`;
          tally.add(label, out.refused ? out.refused.status : `close ${out.closeCode ?? 'client'}`);
          const problems = sessionProblems(s, out, ctx);
          if (problems.length > 0) {
            const message = [
              `session #${sessions} (seed ${SEED}; replay with FC_SEED=${SEED}): ${problems.join('; ')}`,
              `  session: ${JSON.stringify(s).slice(0, 800)}`,
              `  got:     ${JSON.stringify(out.refused ?? out.frames.map((f) => f.slice(0, 120))).slice(0, 1500)} close ${out.closeCode}`,
            ].join('\n');
            console.error(message);
            throw new Error(message);
          }
          if (sessions % BATCH === 0) await checkInvariants();
        }),
        { seed: SEED, numRuns: SESSIONS, endOnFailure: true },
      );
      await checkInvariants();
    } finally {
      process.stdout.write(`${tally.summary(`[bad-frames corpus ${kind}] seed ${SEED}`)}\n  frames and upgrades sent: ${frames}\n`);
    }
    expect(frames).toBeGreaterThan(SESSIONS * 3);
  }, 120_000);
});
