import { createConnection } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type TestService } from './support/harness.js';

/** What the server answers to raw bytes it cannot parse as HTTP: status line and body. */
function raw(port: number, bytes: Buffer | string): Promise<{ status: number; contentType: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let out = '';
    socket.on('data', (c) => (out += c.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = out.split('\r\n\r\n');
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
        contentType: /content-type: ([^\r\n]+)/i.exec(head)?.[1] ?? '',
        body,
      });
    });
    socket.end(bytes);
  });
}

describe('requests the HTTP parser refuses still get the JSON error body', () => {
  let svc: TestService;
  let port: number;
  beforeAll(async () => {
    svc = await startService({ storage: 'pglite', logLevel: 'warn' });
    port = Number(new URL(svc.url).port);
  });
  afterAll(() => svc?.close());

  it.each([
    ['raw non-ASCII bytes in the path', Buffer.concat([Buffer.from('PUT /api/drafts/'), Buffer.from([0xe9, 0xff]), Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n')]), 400],
    ['an unknown method token', 'FOO /api/drafts HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['a malformed header line', 'GET /healthz HTTP/1.1\r\nBad Header: 1\r\n\r\n', 400],
    ['headers over the 16 KiB limit', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
  ])('%s', async (_what, bytes, status) => {
    const res = await raw(port, bytes);
    expect(res.status).toBe(status);
    expect(res.contentType).toMatch(/^application\/json/);
    const body = JSON.parse(res.body) as { error: { code: string; message: string } };
    expect(body.error.code).toMatch(/^[A-Z_]+$/);
    expect(body.error.message.length).toBeGreaterThan(0);
    // The process is fine afterwards.
    expect((await fetch(`${svc.url}/readyz`)).status).toBe(200);
  });
});
