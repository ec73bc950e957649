/**
 * `npm run client:size`: the browser bundle's size as the service serves it (esbuild, minified),
 * raw and gzipped. A figure to watch, not a gate.
 */
import { gzipSync } from 'node:zlib';
import { buildClientBundle, defaultClientAssetPaths } from '../../service/src/http/client-assets.js';

const { code, map } = await buildClientBundle(defaultClientAssetPaths().entry);
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
process.stdout.write(
  `client/src/browser.ts → /client/realtime-client.js: ${kib(Buffer.byteLength(code))} minified, ` +
    `${kib(gzipSync(code, { level: 9 }).length)} gzipped (sourcemap ${map ? kib(Buffer.byteLength(map)) : 'none'})\n`,
);
