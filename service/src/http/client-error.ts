/**
 * Requests that Node's HTTP parser refuses before Koa sees them (a malformed request line or
 * header, raw non-ASCII bytes in the path, an unknown method token, headers over the 16 KiB
 * limit) would get Node's bare `400 Bad Request` with no body. Answer them with the same JSON error
 * body as every other error (DESIGN §3), then close: the connection's framing is unknown.
 */
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';

const ANSWERS: Record<string, { status: number; reason: string; code: string; message: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, reason: 'Request Header Fields Too Large', code: 'HEADERS_TOO_LARGE', message: 'Request headers are too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, reason: 'Request Timeout', code: 'REQUEST_TIMEOUT', message: 'The request was not received in time' },
};
const MALFORMED = { status: 400, reason: 'Bad Request', code: 'MALFORMED_REQUEST', message: 'The HTTP request could not be parsed' };

export function answerClientErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // Nothing to answer on a reset socket, or once a response has started on it.
    if (err.code === 'ECONNRESET' || !socket.writable || (socket as { _httpMessage?: unknown })._httpMessage) {
      socket.destroy();
      return;
    }
    const a = (err.code && ANSWERS[err.code]) || MALFORMED;
    const body = JSON.stringify({ error: { code: a.code, message: a.message } });
    socket.end(
      `HTTP/1.1 ${a.status} ${a.reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
