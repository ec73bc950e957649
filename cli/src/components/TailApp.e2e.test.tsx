/** The interactive tail (Ink) with a real device on a real service, rendered by ink-testing-library. */
import { render } from 'ink-testing-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken, newDraft, startService, type TestService } from '../../../service/test/support/harness.js';
import { waitUntil } from '../../test/support/wait.js';
import { createNodeDevice } from '../../../client/src/node.js';
import { typeMatcher } from '../format.js';
import { TailApp } from './TailApp.js';

describe('TailApp', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService({ storage: 'pglite', logLevel: 'warn' });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('connects, shows live events that match the filter, and q leaves the view', async () => {
    const device = createNodeDevice({ urls: [svc.url], deviceId: 'ink', getToken: () => mintToken('u-ink') });
    const match = typeMatcher('DRAFT_CREATED');
    const ui = render(<TailApp device={device} match={match} filter="DRAFT_CREATED" color={false} onError={() => undefined} />);
    try {
      await waitUntil(() => /● live/.test(ui.lastFrame() ?? ''), 'live status');
      const draft = newDraft({ customerName: 'Neri' });
      await svc.api('u-ink', { deviceId: 'phone' }).post('/api/drafts', draft);
      await svc.api('u-ink').del(`/api/drafts/${draft.id}`); // filtered out
      await svc.api('u-ink').post('/api/drafts', newDraft({ customerName: 'Gialli' }));
      await waitUntil(() => /Gialli/.test(ui.frames.join('\n')), 'second event');
      const all = ui.frames.join('\n');
      expect(all).toMatch(/#1\s+DRAFT_CREATED .*from phone\s+draft \w{8} Neri/);
      expect(all).not.toMatch(/DRAFT_DELETED/);
      expect(ui.lastFrame()).toMatch(/seq 3\s+2 event\(s\)\s+type DRAFT_CREATED/);
      // q ends the app: later events reach the device but are no longer rendered.
      ui.stdin.write('q');
      await new Promise((r) => setTimeout(r, 200));
      await svc.api('u-ink').post('/api/drafts', newDraft({ customerName: 'Viola' }));
      await waitUntil(() => device.lastSeq === 4, 'the device saw seq 4');
      await new Promise((r) => setTimeout(r, 100));
      expect(ui.frames.join('\n')).not.toMatch(/Viola/);
    } finally {
      ui.unmount();
      await device.close();
    }
  });
});
