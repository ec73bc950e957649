import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateHttp, HttpError, type GateHttp } from './http.js';

// A real node:http server on a free port, answering as each test says.
let server: Server | null = null;
let client: GateHttp | null = null;

async function serve(handler: (req: IncomingMessage, body: string, res: ServerResponse) => void, keepAliveTimeout = 5_000): Promise<string> {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => handler(req, body, res));
  });
  server.keepAliveTimeout = keepAliveTimeout;
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  client?.close();
  client = null;
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = null;
});

const json = (res: ServerResponse, status: number, value: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
};

describe('the gate HTTP client', () => {
  it('sends method, path, headers and body, reads JSON, and reuses sockets for requests in turn', async () => {
    const seen: string[] = [];
    const url = await serve((req, body, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers['x-device-id']} ${req.headers['content-type'] ?? '-'} ${body}`);
      json(res, req.method === 'POST' ? 201 : 200, { seq: seen.length, name: 'é' });
    });
    client = createGateHttp();
    const a = await client.request(url, '/api/drafts', { method: 'POST', headers: { 'x-device-id': 'w', 'content-type': 'application/json' }, body: '{"q":"ü"}', timeoutMs: 5_000 });
    const b = await client.request(url, '/api/drafts/1', { method: 'DELETE', headers: { 'x-device-id': 'w' }, timeoutMs: 5_000 });
    expect(a).toEqual({ status: 201, body: { seq: 1, name: 'é' } });
    expect(b).toEqual({ status: 200, body: { seq: 2, name: 'é' } });
    expect(seen).toEqual(['POST /api/drafts w application/json {"q":"ü"}', 'DELETE /api/drafts/1 w - ']);
    // Requests in turn reuse the socket: it is free again before the answer is handed over.
    for (let i = 0; i < 8; i++) await client.request(url, '/api/drafts/1', { method: 'DELETE', headers: {}, timeoutMs: 5_000 });
    expect(client.socketsOpened).toBe(1);
  });

  it('reads chunked bodies, bodies up to the close, empty and non-JSON bodies', async () => {
    const url = await serve((req, _body, res) => {
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"items":');
        setTimeout(() => res.end('[1,2,3]}'), 20);
      } else if (req.url === '/close') {
        res.writeHead(200, { connection: 'close' });
        res.end('{"closed":true}');
      } else if (req.url === '/empty') {
        res.writeHead(204).end();
      } else {
        res.writeHead(502, { 'content-type': 'text/html', 'content-length': '9' }).end('<h1>x</h1'.slice(0, 9));
      }
    });
    client = createGateHttp();
    const req = { method: 'GET', headers: {}, timeoutMs: 5_000 };
    expect(await client.request(url, '/chunked', req)).toEqual({ status: 200, body: { items: [1, 2, 3] } });
    expect(await client.request(url, '/close', req)).toEqual({ status: 200, body: { closed: true } });
    expect(await client.request(url, '/empty', req)).toEqual({ status: 204, body: null });
    expect(await client.request(url, '/html', req)).toEqual({ status: 502, body: null });
  });

  it('opens more sockets for concurrent requests, up to maxSockets, the rest waits', async () => {
    let inside = 0;
    let most = 0;
    const url = await serve((_req, _body, res) => {
      inside += 1;
      most = Math.max(most, inside);
      setTimeout(() => {
        inside -= 1;
        json(res, 200, {});
      }, 30);
    });
    client = createGateHttp({ maxSockets: 3 });
    const all = await Promise.all(Array.from({ length: 7 }, () => client!.request(url, '/', { method: 'GET', headers: {}, timeoutMs: 5_000 })));
    expect(all.every((r) => r.status === 200)).toBe(true);
    expect(most).toBe(3);
    expect(client.socketsOpened).toBe(3);
  });

  it('fails with a code, never throws: refused, timeout, abandoned, server gone mid-answer', async () => {
    client = createGateHttp();
    const req = { method: 'GET', headers: {}, timeoutMs: 5_000 };
    await expect(client.request('http://127.0.0.1:1', '/', req)).rejects.toMatchObject({ name: 'HttpError', code: 'ECONNREFUSED' });
    const url = await serve((req2, _body, res) => {
      if (req2.url === '/hang-up') res.socket?.destroy();
      // '/silent' never answers
    });
    await expect(client.request(url, '/silent', { ...req, timeoutMs: 100 })).rejects.toMatchObject({ code: 'timeout', message: 'no answer in 0 s' });
    await expect(client.request(url, '/hang-up', req)).rejects.toBeInstanceOf(HttpError);
    const pending = client.request(url, '/silent', req);
    await new Promise((r) => setTimeout(r, 50));
    client.abortAll();
    await expect(pending).rejects.toMatchObject({ code: 'aborted' });
    // The client still works after all that.
    server!.removeAllListeners('request');
    server!.on('request', (_r: IncomingMessage, res: ServerResponse) => json(res, 200, { ok: true }));
    expect(await client.request(url, '/', req)).toEqual({ status: 200, body: { ok: true } });
  });

  it('does not reuse a socket idle longer than idleMs, nor one the server closed', async () => {
    const url = await serve((_req, _body, res) => json(res, 200, {}), 100);
    client = createGateHttp({ idleMs: 50 });
    const req = { method: 'GET', headers: {}, timeoutMs: 5_000 };
    await client.request(url, '/', req);
    await new Promise((r) => setTimeout(r, 70)); // past idleMs, before the server's 100 ms
    await client.request(url, '/', req);
    await new Promise((r) => setTimeout(r, 200)); // the server closed it
    await client.request(url, '/', req);
    expect(client.socketsOpened).toBe(3);
  });

  it('refuses a header value with a line break instead of sending it', async () => {
    const url = await serve((_req, _body, res) => json(res, 200, {}));
    client = createGateHttp();
    await expect(client.request(url, '/', { method: 'GET', headers: { authorization: 'Bearer a\r\nx-evil: 1' }, timeoutMs: 1_000 })).rejects.toMatchObject({ code: 'protocol' });
  });

  it('reads an answer that arrives a byte at a time: a 1xx first, chunked with a trailer, then a keep-alive answer on the same socket', async () => {
    // A raw server: the exact bytes on the wire, sliced as small as TCP may slice them.
    const answers = [
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n{"a"\r\n6\r\n:"\u00e9"}\r\n0\r\nx-trailer: 1\r\n\r\n',
      'HTTP/1.1 201 Created\r\nContent-Length: 8\r\nKeep-Alive: timeout=5\r\n\r\n{"b":22}',
      'HTTP/1.0 200 OK\r\n\r\n{"c":3}',
    ];
    const raw: NetServer = createNetServer((socket) => {
      let got = '';
      socket.on('data', async (d) => {
        got += d.toString('latin1');
        while (got.includes('\r\n\r\n')) {
          got = got.slice(got.indexOf('\r\n\r\n') + 4);
          const bytes = Buffer.from(answers.shift()!, 'utf8');
          for (const b of bytes) {
            socket.write(Buffer.from([b]));
            await new Promise((r) => setImmediate(r));
          }
          if (answers.length === 0) socket.end();
        }
      });
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
      client = createGateHttp();
      const req = { method: 'GET', headers: {}, timeoutMs: 5_000 };
      expect(await client.request(url, '/1', req)).toEqual({ status: 200, body: { a: 'é' } });
      expect(await client.request(url, '/2', req)).toEqual({ status: 201, body: { b: 22 } });
      expect(await client.request(url, '/3', req)).toEqual({ status: 200, body: { c: 3 } }); // HTTP/1.0: up to the close
      expect(client.socketsOpened).toBe(1);
    } finally {
      await new Promise((r) => raw.close(r));
    }
  });

  it('answers every request of a burst over more requests than sockets, each with its own answer', async () => {
    const url = await serve((req, body, res) => json(res, 200, { path: req.url, body }));
    client = createGateHttp({ maxSockets: 4 });
    const all = await Promise.all(Array.from({ length: 200 }, (_, i) => client!.request(url, `/p/${i}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"i":${i}}`, timeoutMs: 5_000 })));
    expect(all.map((r) => r.body)).toEqual(Array.from({ length: 200 }, (_, i) => ({ path: `/p/${i}`, body: `{"i":${i}}` })));
    expect(client.socketsOpened).toBe(4);
  });
});
