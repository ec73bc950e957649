/**
 * The browser delivery over real HTTP, no browser needed: the bundle (built by esbuild in the
 * service), its caching headers, the demo page's files and headers, and the dev-token route that
 * exists only on the built-in development secret.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, get, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import Router from '@koa/router';
import { jwtVerify } from 'jose';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientAssets, defaultClientAssetPaths } from '../../service/src/http/client-assets.js';
import { errorMiddleware } from '../../service/src/http/errors-middleware.js';
import { createLogger } from '../../service/src/log.js';
import { DEV_JWT_SECRET } from '../../service/src/protocol/index.js';
import { startService, type TestService } from '../../service/test/support/harness.js';

const { demoDir } = defaultClientAssetPaths();

/** The status of a plain GET with exactly these headers. */
function statusOf(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

describe('GET /client/realtime-client.js and /demo/ (service on the development secret)', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService({ storage: 'pglite', env: { JWT_SECRET: '' }, logLevel: 'info' });
  });
  afterAll(() => svc.close());

  it('serves the client as one minified ES module with a sourcemap, an ETag and gzip', async () => {
    const res = await fetch(`${svc.url}/client/realtime-client.js`, { headers: { 'accept-encoding': 'identity' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const etag = res.headers.get('etag');
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const code = await res.text();
    expect(code).toMatch(/\bexport\s*\{[^}]*\bcreateClient\b/); // an ES module exporting the API
    expect(code).not.toMatch(/\bimport\s*["'{*]|from\s*["']node:/); // one file: nothing left to import
    expect(code).not.toContain('/**'); // minified: no doc comments, long lines
    expect(code.length / code.split('\n').length).toBeGreaterThan(1000);
    expect(code).toContain('sourceMappingURL=realtime-client.js.map');

    // A revalidation as a browser sends it (fetch() would add `Cache-Control: no-cache` to a
    // conditional request, which rightly gets the full answer).
    expect(await statusOf(`${svc.url}/client/realtime-client.js`, { 'if-none-match': etag! })).toBe(304);
    expect(await statusOf(`${svc.url}/client/realtime-client.js`, { 'if-none-match': '"other"' })).toBe(200);

    const map = await fetch(`${svc.url}/client/realtime-client.js.map`);
    expect(map.status).toBe(200);
    const parsed = (await map.json()) as { sources: string[] };
    expect(parsed.sources).toContain('browser.ts'); // relative to the bundle's place, client/src/
    expect(parsed.sources.some((s) => s.endsWith('service/src/protocol/close-codes.ts'))).toBe(true); // not messages.ts: the client carries no zod

    const gz = gzipSync(code, { level: 9 }).length;
    process.stdout.write(
      `client bundle: ${(Buffer.byteLength(code) / 1024).toFixed(1)} KiB minified, ${(gz / 1024).toFixed(1)} KiB gzipped\n`,
    );
    // Node's fetch asks for gzip by default and inflates it: the same bytes arrive.
    const zipped = await fetch(`${svc.url}/client/realtime-client.js`);
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    expect(await zipped.text()).toBe(code);
  });

  it('serves the demo page with a strict CSP, and only the demo folder', async () => {
    const redirect = await fetch(`${svc.url}/demo`, { redirect: 'manual' });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe('/demo/');

    const page = await fetch(`${svc.url}/demo/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain(`connect-src 'self' ws://${new URL(svc.url).host}`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await page.text();
    expect(html).toContain('<script type="module" src="demo.js">');
    expect(html).not.toMatch(/<script>(?!<)/); // no inline script (the CSP would refuse it anyway)

    const js = await fetch(`${svc.url}/demo/demo.js`);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await js.text()).toContain("from '/client/realtime-client.js'");
    expect((await fetch(`${svc.url}/demo/demo.css`)).headers.get('content-type')).toMatch(/^text\/css/);

    for (const path of ['/demo/missing.js', '/demo/..%2Fpackage.json', '/demo/.secret.js', '/demo/%2e%2e%2fdemo.js', '/demo/index.ts']) {
      const res = await fetch(svc.url + path);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    }
  });

  it('mints a development token the service accepts, and validates the user id', async () => {
    const res = await fetch(`${svc.url}/api/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'agent-7' }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const { token, expiresAt } = (await res.json()) as { token: string; expiresAt: string };
    const { payload } = await jwtVerify(token, new TextEncoder().encode(DEV_JWT_SECRET));
    expect(payload.sub).toBe('agent-7');
    expect(payload.role).toBeUndefined(); // never an admin token
    expect(Date.parse(expiresAt)).toBe((payload.exp ?? 0) * 1000);
    const drafts = await fetch(`${svc.url}/api/drafts`, { headers: { authorization: `Bearer ${token}` } });
    expect(drafts.status).toBe(200);

    for (const body of ['{}', '{"userId":""}', `{"userId":"${'x'.repeat(129)}"}`, '{"userId":42}']) {
      const bad = await fetch(`${svc.url}/api/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(bad.status, body).toBe(400);
      expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('VALIDATION_FAILED');
    }
    const get = await fetch(`${svc.url}/api/dev/token`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });
});

describe('POST /api/dev/token with a configured key', () => {
  for (const [name, env] of [
    ['JWT_SECRET', {}],
    ['JWT_JWKS_URL', { JWT_SECRET: '', JWT_JWKS_URL: 'http://127.0.0.1:9/.well-known/jwks.json' }],
  ] as const) {
    it(`answers 404 JSON, for every method, when ${name} is set`, async () => {
      const svc = await startService({ storage: 'pglite', env, logLevel: 'silent' });
      try {
        for (const method of ['POST', 'GET']) {
          const res = await fetch(`${svc.url}/api/dev/token`, {
            method,
            headers: method === 'POST' ? { 'content-type': 'application/json' } : {},
            body: method === 'POST' ? '{"userId":"agent-7"}' : undefined,
          });
          expect(res.status, method).toBe(404);
          expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
        }
        // The page and the bundle are still there: only the token route is gone.
        expect((await fetch(`${svc.url}/demo/`)).status).toBe(200);
      } finally {
        await svc.close();
      }
    }, 120_000); // a PGlite start-up alone can take 30 s on a busy 2-core machine
  }
});

describe('client assets module', () => {
  let server: Server;
  let url: string;
  let dir: string;
  const logs: string[] = [];
  const serve = async (assets: ReturnType<typeof createClientAssets>) => {
    const koa = new Koa();
    koa.silent = true;
    const log = createLogger({ level: 'info', destination: new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) }) });
    const router = new Router();
    assets.register(router);
    koa.use(errorMiddleware(log)).use(router.routes());
    server = createServer(koa.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rt-assets-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('answers a build error with 500 JSON and logs it, then retries on the next request', async () => {
    const entry = join(dir, 'entry.ts');
    await writeFile(entry, "import { nothing } from './missing.js';\nexport const x = nothing;\n");
    await serve(createClientAssets({ entry, demoDir }));
    try {
      const res = await fetch(`${url}/client/realtime-client.js`);
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({
        error: { code: 'CLIENT_BUILD_FAILED', message: expect.stringContaining('could not be built') },
      });
      expect(logs.join('')).toContain('missing.js'); // esbuild's reason is in the log

      await writeFile(entry, 'export const x = 1;\n');
      const fixed = await fetch(`${url}/client/realtime-client.js`);
      expect(fixed.status).toBe(200);
      expect(await fixed.text()).toContain('export');
    } finally {
      server.close();
    }
  });

  it('serves a prebuilt bundle when present, without building', async () => {
    const prebuiltDir = join(dir, 'dist');
    await rm(prebuiltDir, { recursive: true, force: true });
    await mkdir(prebuiltDir);
    await writeFile(join(prebuiltDir, 'realtime-client.js'), 'export const prebuilt=1;\n');
    let builds = 0;
    await serve(
      createClientAssets({
        entry: join(dir, 'nope.ts'),
        demoDir,
        prebuiltDir,
        build: async () => {
          builds++;
          throw new Error('must not build');
        },
      }),
    );
    try {
      const res = await fetch(`${url}/client/realtime-client.js`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('export const prebuilt=1;\n');
      expect(builds).toBe(0);
      expect((await fetch(`${url}/client/realtime-client.js.map`)).status).toBe(404);
    } finally {
      server.close();
    }
  });
});
