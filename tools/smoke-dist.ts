/**
 * After `npm run build`: the built service starts with plain `node dist/service/src/main.js` (no
 * tsx), answers /readyz, takes a write, serves the prebuilt browser bundle and the demo page, and
 * exits 0 on SIGTERM. `.ci/run` runs it; exit code 1 with one line saying what failed.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.js';
import { mintToken, TEST_SECRET } from './token.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const main = `${root}dist/service/src/main.js`;
const bundle = `${root}dist/client/realtime-client.js`;

function fail(message: string, output = ''): never {
  console.error(`smoke-dist: ${message}${output ? `\n--- service output\n${output}` : ''}`);
  process.exit(1);
}

if (!existsSync(main) || !existsSync(bundle)) fail('dist/ is missing or incomplete: run `npm run build` first');
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
let out = '';
const proc = spawn(process.execPath, [main], {
  cwd: root,
  env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1', JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'warn' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
proc.stdout.on('data', (c: Buffer) => (out += String(c)));
proc.stderr.on('data', (c: Buffer) => (out += String(c)));
const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));

try {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) fail('the built service exited at start-up', out);
    if (Date.now() > deadline) fail('the built service was not ready within 60 s', out);
    if (await fetch(`${url}/readyz`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const token = await mintToken('smoke-user');
  const id = crypto.randomUUID();
  const res = await fetch(`${url}/api/drafts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': 'smoke-1' },
    body: JSON.stringify({ id, customerId: 'c1', customerName: 'Smoke', items: [], updatedAt: new Date().toISOString() }),
  });
  if (res.status !== 201) fail(`POST /api/drafts answered ${res.status}: ${await res.text()}`, out);
  const js = await fetch(`${url}/client/realtime-client.js`);
  if (!js.ok || (await js.text()) !== readFileSync(bundle, 'utf8')) fail('/client/realtime-client.js is not the prebuilt bundle', out);
  const demo = await fetch(`${url}/demo/`);
  if (!demo.ok || !(await demo.text()).includes('demo.js')) fail('/demo/ did not serve the demo page', out);
  proc.kill('SIGTERM');
  const code = await exited;
  if (code !== 0) fail(`the built service exited ${code} on SIGTERM`, out);
  console.log(`smoke-dist: node dist/service/src/main.js ready, wrote a draft, served the prebuilt bundle and /demo/, exited 0 on SIGTERM`);
} finally {
  if (proc.exitCode === null) proc.kill('SIGKILL');
}
