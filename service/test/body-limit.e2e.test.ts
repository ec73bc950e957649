/**
 * A body over MAX_BODY_BYTES is refused with a 413 the client can read (issue "Hardening"): the
 * service answers before any parsing and reads and discards the rest, so the client can finish
 * sending and read the answer instead of EPIPE / "fetch failed"; a client that never finishes is cut
 * off by BODY_DRAIN_MS, and one that sends more than BODY_DRAIN_BYTES is cut off there.
 *
 * The fetch clients run in a child process, as a real client does on another machine: in the test's
 * own process the client's writes and the server's close take turns on one event loop, which hid the
 * failure (it failed 9 of 10 times from another process, never from this one).
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newDraft, startService, type TestService } from './support/harness.js';

const MB = 1024 * 1024;
// Room for a 50 MB upload on a busy machine; the stalled clients below wait this long.
const DRAIN_MS = 6_000;
const DRAIN_BYTES = 192 * MB;

/** POST bodies of `sizes` bytes with Node's fetch (undici), `repeat` times each, from another process. */
const FETCH_CLIENT = `
const [url, token, sizesArg, repeat, chunked] = process.argv.slice(1);
const out = [];
for (const size of sizesArg.split(',').map(Number)) {
  for (let i = 0; i < Number(repeat); i++) {
    const headers = { authorization: 'Bearer ' + token, 'content-type': 'application/json' };
    let body = Buffer.alloc(size, 'a');
    let init = { method: 'POST', headers, body };
    if (chunked === 'chunked') {
      // A stream body has no Content-Length: undici sends it chunked.
      const chunk = new Uint8Array(64 * 1024).fill(97);
      let sent = 0;
      init = { ...init, duplex: 'half', body: new ReadableStream({ pull(c) { if (sent < size) { sent += chunk.length; c.enqueue(chunk); } else c.close(); } }) };
    }
    try {
      const res = await fetch(url, init);
      out.push({ size, status: res.status, connection: res.headers.get('connection'), body: await res.text() });
    } catch (err) {
      out.push({ size, error: String(err.cause?.code ?? err.message) });
    }
  }
}
console.log(JSON.stringify(out));
`;

interface FetchResult {
  size: number;
  status?: number;
  connection?: string | null;
  body?: string;
  error?: string;
}

function fetchFromAnotherProcess(url: string, token: string, sizes: number[], repeat: number, mode: 'length' | 'chunked' = 'length'): Promise<FetchResult[]> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', FETCH_CLIENT, url, token, sizes.join(','), String(repeat), mode],
      { maxBuffer: 16 * MB, timeout: 120_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`client failed: ${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as FetchResult[])),
    );
  });
}

function expectAll413(results: FetchResult[], count: number): void {
  expect(results).toHaveLength(count);
  for (const r of results) {
    // Every one, not usually: an EPIPE here is the bug.
    expect({ size: r.size, error: r.error, status: r.status }).toEqual({ size: r.size, error: undefined, status: 413 });
    const body = JSON.parse(r.body!) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(body.error.message).toMatch(/larger than 1048576 bytes/);
  }
}

/** A raw TCP client: the request head, then whatever the test writes. Collects what comes back and when it closed. */
function rawClient(port: number, head: string) {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined); // EPIPE/ECONNRESET once the server cuts us off: expected
  let received = '';
  socket.on('data', (c: Buffer) => (received += c.toString('latin1')));
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  socket.write(head);
  return {
    socket,
    closed,
    received: () => received,
    /** Write `bytes` in 1 MB pieces, waiting for each to be taken (the client buffers nothing); stops early if closed. */
    async send(bytes: number, onMB?: () => void): Promise<number> {
      const piece = Buffer.alloc(MB, 'a');
      let sent = 0;
      while (sent < bytes && !socket.destroyed) {
        await Promise.race([new Promise<void>((r) => socket.write(piece, () => r())), closed]);
        sent += piece.length;
        onMB?.();
      }
      return sent;
    },
  };
}


describe('a body over MAX_BODY_BYTES gets a 413 the client can read', () => {
  let svc: TestService;
  let token: string;
  let port: number;
  beforeAll(async () => {
    svc = await startService({
      storage: 'pglite',
      logLevel: 'warn',
      env: { MAX_BODY_BYTES: String(MB), BODY_DRAIN_MS: String(DRAIN_MS), BODY_DRAIN_BYTES: String(DRAIN_BYTES) },
    });
    token = await svc.token('u-body-limit');
    port = Number(new URL(svc.url).port);
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('fetch gets the 413 JSON error every time for 2 MB, 5 MB and 50 MB bodies', async () => {
    const results = await fetchFromAnotherProcess(`${svc.url}/api/drafts`, token, [2 * MB, 5 * MB], 5);
    expectAll413(results, 10);
    expectAll413(await fetchFromAnotherProcess(`${svc.url}/api/drafts`, token, [50 * MB], 3), 3);
  });

  it('a chunked upload over the limit gets the 413 too (the limit is found while reading)', async () => {
    expectAll413(await fetchFromAnotherProcess(`${svc.url}/api/drafts`, token, [3 * MB, 20 * MB], 3, 'chunked'), 6);
  });

  it('after a small 413 the keep-alive connection is kept, and a normal request on it works', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const request = (method: string, body: string, contentLength = Buffer.byteLength(body)) =>
      new Promise<{ status: number; connection: string | undefined; body: string; socket: net.Socket }>((resolve, reject) => {
        const req = http.request(`${svc.url}/api/drafts`, {
          method,
          agent,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': contentLength },
        });
        req.on('error', reject);
        req.on('response', (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, body: text, socket: req.socket! }));
        });
        req.end(body);
      });
    try {
      const refused = await request('POST', 'x'.repeat(2 * MB));
      expect(refused.status).toBe(413);
      expect(JSON.parse(refused.body).error.code).toBe('PAYLOAD_TOO_LARGE');
      expect(refused.connection).not.toBe('close');
      const draft = newDraft();
      const created = await request('POST', JSON.stringify(draft));
      expect(created.socket).toBe(refused.socket); // the same connection
      expect(created.status).toBe(201);
      expect(JSON.parse(created.body).draft).toMatchObject({ id: draft.id, version: 1 });
    } finally {
      agent.destroy();
    }
  });

  it('a client that declares a huge body, sends 128 MB of it and stalls gets the 413 and is cut off by the drain timeout; the body is not kept', async () => {
    const before = process.memoryUsage.rss();
    let peak = before;
    const started = Date.now();
    const client = rawClient(port, `POST /api/drafts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${1000 * MB}\r\n\r\n`);
    const sent = await client.send(128 * MB, () => (peak = Math.max(peak, process.memoryUsage.rss())));
    expect(sent).toBe(128 * MB); // within the drain bounds: all taken, read and thrown away
    // Then it stalls: nothing more is sent.
    const closedAt = await client.closed;
    expect(client.received()).toMatch(/^HTTP\/1\.1 413 /);
    expect(client.received()).toContain('"PAYLOAD_TOO_LARGE"');
    expect(closedAt - started).toBeLessThan(DRAIN_MS + 3_000);
    // A service that kept the body would have grown by the 128 MB it took (RSS is noisy: half of it is the bar).
    expect(peak - before).toBeLessThan(64 * MB);
  });

  it('clients that send headers with a large Content-Length and then nothing, or a drip, are disconnected within the timeout', async () => {
    const head = (id: string) =>
      `PUT /api/drafts/${id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${2 * MB}\r\n\r\n`;
    const started = Date.now();
    const silent = rawClient(port, head('00000000-0000-4000-8000-000000000001'));
    // A kilobyte every 200 ms, never the end: the drain timeout counts from the refusal, not from the last byte.
    const drip = rawClient(port, head('00000000-0000-4000-8000-000000000002'));
    const dripping = setInterval(() => drip.socket.destroyed || drip.socket.write('a'.repeat(1024)), 200);
    try {
      const [silentClosed, dripClosed] = await Promise.all([silent.closed, drip.closed]);
      for (const c of [silent, drip]) expect(c.received()).toMatch(/^HTTP\/1\.1 413 /);
      expect(silentClosed - started).toBeLessThan(DRAIN_MS + 3_000);
      expect(dripClosed - started).toBeGreaterThanOrEqual(DRAIN_MS - 200);
      expect(dripClosed - started).toBeLessThan(DRAIN_MS + 3_000);
    } finally {
      clearInterval(dripping);
    }
  });

  it('a client that keeps sending past BODY_DRAIN_BYTES is cut off there, not read to the end', async () => {
    const client = rawClient(port, `POST /api/drafts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${1024 * MB}\r\n\r\n`);
    const sent = await client.send(1024 * MB);
    await client.closed;
    expect(client.received()).toMatch(/^HTTP\/1\.1 413 /);
    // The drain bound plus what the socket buffers on both sides, far from the gigabyte declared.
    expect(sent).toBeGreaterThan(DRAIN_BYTES - 16 * MB);
    expect(sent).toBeLessThan(DRAIN_BYTES + 16 * MB);
  });
});
