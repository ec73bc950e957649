/**
 * Draft writes for the load scenarios, through the client library's REST client (client/src/rest.ts),
 * so a scenario costs what a real device's write costs (Idempotency-Key included). A failure is
 * returned as its HTTP status (0: no answer), never thrown: the scenarios count errors, they do
 * not stop on them.
 */
import { ApiError, createRestClient, draftBody, requestFor, type RestClient } from '../../client/src/rest.js';
import type { DraftInput } from '../../client/src/types.js';

export interface DraftWriter {
  /** POST /api/drafts as the user of `token`; resolves with the status (201 created). */
  create(token: string, draft: DraftInput): Promise<number>;
}

export function createDraftWriter(url: string, deviceId = 'writer'): DraftWriter {
  const clients = new Map<string, RestClient>();
  const clientFor = (token: string) => {
    let c = clients.get(token);
    if (!c) {
      c = createRestClient({ url, getToken: () => token, deviceId });
      clients.set(token, c);
    }
    return c;
  };
  return {
    create: (token, draft) =>
      clientFor(token)
        .request(requestFor({ kind: 'draft.create', id: draft.id ?? '', body: draftBody(draft) }))
        .then(
          (r) => r.status,
          (err: unknown) => (err instanceof ApiError ? err.status : 0),
        ),
  };
}
