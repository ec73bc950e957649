/**
 * The second half of `npm run build`: the browser bundle of the client library, prebuilt into
 * dist/client/ so the built service serves it without loading esbuild (service/src/http/client-assets.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { buildClientBundle } from '../service/src/http/client-assets.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}dist/client`;
const bundle = await buildClientBundle(`${root}client/src/browser.ts`);
await mkdir(out, { recursive: true });
await writeFile(`${out}/realtime-client.js`, bundle.code);
if (bundle.map) await writeFile(`${out}/realtime-client.js.map`, bundle.map);
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`dist/client/realtime-client.js: ${kib(Buffer.byteLength(bundle.code))} minified, ${kib(gzipSync(bundle.code).length)} gzipped`);
