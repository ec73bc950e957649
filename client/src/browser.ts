/**
 * The browser entry of the client library, bundled by the service as `GET /client/realtime-client.js`
 * (one minified ES module). It is the same API as index.ts with the defaults a page wants:
 * the page's own `WebSocket` with the token in `?token=` (a browser cannot set headers on a socket;
 * the service redacts it from its logs), the page's `fetch`, and IndexedDB for the resume state and
 * the offline queue, so a reload resumes instead of refetching and queued writes survive it.
 * No Node API here: the bundle is built for platform 'browser', which fails on any `node:` import.
 *
 *   import { createClient } from '/client/realtime-client.js';
 *   const client = createClient({ url: location.origin, deviceId, getToken: () => token });
 */
import { createClient as createCoreClient } from './index.js';
import type { WebSocketConstructor } from './realtime.js';
import type { ClientOptions } from './types.js';

export * from './index.js';

interface BrowserGlobals {
  WebSocket?: WebSocketConstructor;
  fetch?: typeof fetch;
  indexedDB?: unknown;
}

/** `createClient` with browser defaults; anything given in `opts` wins. */
export function createClient(opts: ClientOptions): ReturnType<typeof createCoreClient> {
  const g = globalThis as BrowserGlobals;
  const pageFetch = g.fetch;
  return createCoreClient({
    // IndexedDB where the browser has it (not in some private modes): else state lives in memory.
    storage: g.indexedDB ? 'indexeddb' : 'memory',
    auth: 'query',
    ...opts,
    WebSocket: opts.WebSocket ?? g.WebSocket,
    // Called through a wrapper: a browser's fetch refuses to run with another object as `this`.
    fetch: opts.fetch ?? (pageFetch ? (input, init) => pageFetch.call(globalThis, input, init) : undefined),
  });
}
