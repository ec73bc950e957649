/**
 * The browser side of the service (DESIGN §11): `GET /client/realtime-client.js`, the client library
 * bundled by esbuild as one minified ES module (plus its sourcemap), and the demo agent page under
 * `GET /demo/`.
 *
 * The bundle is built in memory on first request, once (concurrent requests share the build); a
 * build error answers 500 JSON (logged with esbuild's message by the error middleware) and the next
 * request tries again, so fixing the source needs no restart of the build but never crashes the
 * service. A prebuilt `realtime-client.js` in `prebuiltDir` (what a later `npm run build` may write
 * to `dist/client/`) is served as it is when present, and esbuild is then never loaded.
 *
 * The URLs are not content-hashed, so everything is `Cache-Control: no-cache` with a strong ETag:
 * browsers revalidate and get a 304 while nothing changed.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { AppError } from '../errors.js';

export const CLIENT_BUNDLE_PATH = '/client/realtime-client.js';
export const DEMO_PATH = '/demo/';
const BUNDLE_FILE = 'realtime-client.js';

export interface ClientBundle {
  code: string;
  /** The external sourcemap, or null when the build made none. */
  map: string | null;
}

export interface ClientAssetsOptions {
  /** The browser entry (client/src/browser.ts). */
  entry: string;
  /** Folder of the demo page's static files (client/demo). */
  demoDir: string;
  /** Folder holding a prebuilt realtime-client.js (and .map); used instead of building when present. */
  prebuiltDir?: string;
  /** Injected for tests; defaults to esbuild. */
  build?: (entry: string) => Promise<ClientBundle>;
}

/** Where the files are in this repository, resolved from this module's own location. */
/**
 * Where the sources are, from this module's place: service/src/http/ under tsx, or
 * dist/service/src/http/ in the built service. Only the built service serves the prebuilt bundle
 * (`npm run build` writes dist/client/realtime-client.js); under tsx the bundle is always built from
 * client/src, so a stale dist/ never hides an edit.
 */
export function defaultClientAssetPaths(moduleUrl: string = import.meta.url): Pick<ClientAssetsOptions, 'entry' | 'demoDir' | 'prebuiltDir'> {
  const up3 = resolve(dirname(fileURLToPath(moduleUrl)), '../../..');
  const built = basename(up3) === 'dist';
  const root = built ? dirname(up3) : up3;
  return {
    entry: join(root, 'client/src/browser.ts'),
    demoDir: join(root, 'client/demo'),
    prebuiltDir: built ? join(up3, 'client') : undefined,
  };
}

/**
 * Bundle the browser entry with esbuild: one ES module for browsers, no Node API (platform
 * 'browser' fails the build on a `node:` import instead of shipping a broken bundle).
 * Also what a build script or a size report can call.
 */
export async function buildClientBundle(entry: string, opts: { minify?: boolean; sourcemap?: boolean } = {}): Promise<ClientBundle> {
  // Loaded on first use only: a service serving a prebuilt bundle, or none, never pays for it.
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2020'],
    minify: opts.minify ?? true,
    sourcemap: (opts.sourcemap ?? true) ? 'linked' : false,
    outfile: join(dirname(entry), BUNDLE_FILE),
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
    plugins: [shakableZod],
  });
  const js = result.outputFiles.find((f) => f.path.endsWith('.js'));
  const map = result.outputFiles.find((f) => f.path.endsWith('.js.map'));
  if (!js) throw new Error('esbuild produced no JavaScript output');
  return { code: js.text, map: map?.text ?? null };
}

/**
 * `import { z } from 'zod'` hands esbuild zod's namespace as one value, so it keeps all of it
 * (every locale, JSON Schema, ...: 440 KiB minified). `import * as z from 'zod'` has the same
 * members, but esbuild sees each `z.object`-style access and drops the rest (about 95 KiB left).
 * The rewrite is for the bundle only; the sources keep their usual import.
 */
const ZOD_NAMED_IMPORT = /import\s*\{\s*z\s*\}\s*from\s*(['"])zod\1/g;
const shakableZod: import('esbuild').Plugin = {
  name: 'shakable-zod',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      if (args.path.includes('node_modules')) return undefined;
      const source = await readFile(args.path, 'utf8');
      return { contents: source.replace(ZOD_NAMED_IMPORT, "import * as z from 'zod'"), loader: 'ts' };
    });
  },
};

interface Asset {
  body: Buffer;
  gzip: Buffer | null;
  etag: string;
  type: string;
}

function asset(body: Buffer | string, type: string, compress = false): Asset {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  const etag = `"${createHash('sha256').update(buf).digest('base64url').slice(0, 27)}"`;
  return { body: buf, gzip: compress ? gzipSync(buf, { level: 9 }) : null, etag, type };
}

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  ico: 'image/x-icon',
};
/** One plain file name of an allowed type: no folders, no dot files, so no way out of demoDir. */
const DEMO_FILE_RE = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9_-]+)*\.(html|js|css|svg|png|ico)$/i;

function send(ctx: Context, a: Asset, headers: Record<string, string> = {}): void {
  ctx.set('Cache-Control', 'no-cache');
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Vary', 'Accept-Encoding');
  for (const [k, v] of Object.entries(headers)) ctx.set(k, v);
  ctx.status = 200;
  ctx.type = a.type;
  ctx.set('ETag', a.etag);
  if (ctx.fresh) {
    ctx.status = 304;
    return;
  }
  if (a.gzip && ctx.acceptsEncodings('gzip', 'identity') === 'gzip') {
    ctx.set('Content-Encoding', 'gzip');
    ctx.body = a.gzip;
  } else {
    ctx.body = a.body;
  }
}

/**
 * The demo page's headers: scripts, styles and connections from this origin only (its WebSocket
 * included, spelled out for browsers whose 'self' does not cover ws:), no framing, no referrer (the
 * token lives in the fragment, which is never sent, but the page's links should leak nothing either).
 */
function pageHeaders(ctx: Context): Record<string, string> {
  const host = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(ctx.host) ? ctx.host : null;
  const ws = host ? ` ${ctx.protocol === 'https' ? 'wss' : 'ws'}://${host}` : '';
  return {
    'Content-Security-Policy': [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data:",
      `connect-src 'self'${ws}`,
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
    'Cross-Origin-Opener-Policy': 'same-origin',
  };
}

export interface ClientAssets {
  /** The bundle, built (or read) once; rejects with the build error, and the next call retries. */
  bundle(): Promise<{ js: Asset; map: Asset | null; source: 'prebuilt' | 'built' }>;
  register(router: Router): void;
}

export function createClientAssets(opts: ClientAssetsOptions): ClientAssets {
  const build = opts.build ?? ((entry: string) => buildClientBundle(entry));
  let pending: ReturnType<ClientAssets['bundle']> | null = null;

  const load = async (): ReturnType<ClientAssets['bundle']> => {
    const prebuilt = opts.prebuiltDir ? join(opts.prebuiltDir, BUNDLE_FILE) : null;
    if (prebuilt && existsSync(prebuilt)) {
      const mapFile = `${prebuilt}.map`;
      const map = existsSync(mapFile) ? await readFile(mapFile) : null;
      return { js: asset(await readFile(prebuilt), TYPES.js!, true), map: map && asset(map, 'application/json', true), source: 'prebuilt' };
    }
    const b = await build(opts.entry);
    return {
      js: asset(b.code, TYPES.js!, true),
      map: b.map === null ? null : asset(b.map, 'application/json', true),
      source: 'built',
    };
  };

  const bundle: ClientAssets['bundle'] = () => {
    pending ??= load().catch((err: unknown) => {
      pending = null; // not cached: the next request rebuilds (after the source is fixed)
      throw new AppError(500, 'CLIENT_BUILD_FAILED', 'The client bundle could not be built; the service log has the reason', {
        cause: err,
        expose: true,
      });
    });
    return pending;
  };

  const demoFile = async (ctx: Context, name: string) => {
    if (!DEMO_FILE_RE.test(name)) throw new AppError(404, 'NOT_FOUND', `No route for ${ctx.method} ${ctx.path}`);
    let body: Buffer;
    try {
      body = await readFile(join(opts.demoDir, name));
    } catch {
      throw new AppError(404, 'NOT_FOUND', `No route for ${ctx.method} ${ctx.path}`);
    }
    const ext = name.slice(name.lastIndexOf('.') + 1).toLowerCase();
    send(ctx, asset(body, TYPES[ext] ?? 'application/octet-stream'), ext === 'html' ? pageHeaders(ctx) : {});
  };

  return {
    bundle,
    register(router) {
      router.get(CLIENT_BUNDLE_PATH, async (ctx) => {
        const { js, map } = await bundle();
        send(ctx, js, map ? { SourceMap: `${CLIENT_BUNDLE_PATH}.map` } : {});
      });
      router.get(`${CLIENT_BUNDLE_PATH}.map`, async (ctx) => {
        const { map } = await bundle();
        if (!map) throw new AppError(404, 'NOT_FOUND', 'This client bundle has no sourcemap');
        send(ctx, map);
      });
      // Only the slash form serves the page, so that its relative URLs (demo.js, demo.css) resolve
      // under /demo/. The router may match '/demo' for either pattern: the handler decides by path.
      const page = (ctx: Context) => {
        if (ctx.path.endsWith('/')) return demoFile(ctx, 'index.html');
        ctx.status = 308;
        ctx.redirect(DEMO_PATH);
      };
      router.get('/demo', page);
      router.get(DEMO_PATH, page);
      router.get(`${DEMO_PATH}:file`, (ctx) => demoFile(ctx, (ctx.params as Record<string, string>).file ?? ''));
    },
  };
}
