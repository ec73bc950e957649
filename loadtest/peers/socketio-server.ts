/**
 * The peer for the comparison: the same product shape on Socket.IO, and nothing more.
 *
 * - A socket authenticates with a JWT (HS256, `auth: { token }` in the handshake) and joins the room
 *   of its user (`u:<sub>`); `connectionStateRecovery` is on (Socket.IO's own missed-packet replay).
 * - `POST /api/drafts` (Bearer JWT, JSON draft body) broadcasts `DRAFT_CREATED { draftId, draft }`
 *   to the user's room and answers 201. By default NO database: nothing is stored, there is no
 *   per-user sequence, no transaction and no outbox; compare it knowing that our service commits
 *   every write first.
 * - With DATABASE_URL (the fair peer), each POST first commits the service's own draft create on
 *   that PostgreSQL (peers/pg-draft-writer.ts: the same `rt_draft_create` transaction, seq and
 *   replay log included), then emits the events it appended to the user's room, then answers 201.
 *
 *   PORT=3100 JWT_SECRET=… [DATABASE_URL=postgres://…] npx tsx loadtest/peers/socketio-server.ts   (prints "listening <port>")
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { jwtVerify } from 'jose';
import { Server } from 'socket.io';
import { isMain } from '../lib/cli.js';
import { createPgDraftWriter, type PgDraftWriter } from './pg-draft-writer.js';

export interface SocketIoPeer {
  url: string;
  close(): Promise<void>;
}

export async function startSocketIoPeer(opts: { port: number; host?: string; secret: string; writer?: PgDraftWriter }): Promise<SocketIoPeer> {
  const key = new TextEncoder().encode(opts.secret);
  const userOf = async (token: unknown): Promise<string | null> => {
    if (typeof token !== 'string') return null;
    try {
      const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'] });
      return typeof payload.sub === 'string' ? payload.sub : null;
    } catch {
      return null;
    }
  };

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const onRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method === 'GET' && req.url === '/readyz') return send(res, 200, { ok: true });
    if (req.method !== 'POST' || req.url !== '/api/drafts') return send(res, 404, { error: { code: 'NOT_FOUND' } });
    const user = await userOf(req.headers.authorization?.replace(/^Bearer /, ''));
    if (!user) return send(res, 401, { error: { code: 'UNAUTHORIZED' } });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    let draft: { id?: unknown };
    try {
      draft = JSON.parse(rawBody) as { id?: unknown };
    } catch {
      return send(res, 400, { error: { code: 'BAD_JSON' } });
    }
    if (typeof draft.id !== 'string') return send(res, 400, { error: { code: 'VALIDATION_FAILED' } });
    const header = (name: string) => (typeof req.headers[name] === 'string' ? (req.headers[name] as string) : null);
    const deviceId = header('x-device-id');
    if (opts.writer) {
      const events = await opts.writer.create({ userId: user, deviceId, idempotencyKey: header('idempotency-key'), rawBody, body: { ...draft, id: draft.id } });
      for (const e of events) io.to(`u:${user}`).emit('event', { type: e.type, seq: e.seq, payload: e.payload, timestamp: e.timestamp, originDeviceId: e.originDeviceId });
      return send(res, 201, { id: draft.id, seq: events.at(-1)?.seq ?? null });
    }
    io.to(`u:${user}`).emit('event', {
      type: 'DRAFT_CREATED',
      payload: { draftId: draft.id, draft, deviceId },
      timestamp: new Date().toISOString(),
      originDeviceId: deviceId,
    });
    send(res, 201, draft);
  };

  const http = createServer((req, res) => {
    onRequest(req, res).catch(() => send(res, 500, { error: { code: 'INTERNAL' } }));
  });
  const io = new Server(http, {
    connectionStateRecovery: { maxDisconnectionDuration: 2 * 60_000 },
    transports: ['websocket'],
  });
  io.use((socket, next) => {
    userOf((socket.handshake.auth as { token?: unknown }).token).then(
      (user) => {
        if (!user) return next(new Error('unauthorized'));
        socket.data.user = user;
        next();
      },
      (err: unknown) => next(err instanceof Error ? err : new Error(String(err))),
    );
  });
  io.on('connection', (socket) => {
    // A recovered session keeps its rooms; a fresh one joins its user's room.
    if (!socket.recovered) void socket.join(`u:${socket.data.user as string}`);
  });

  await new Promise<void>((resolve) => http.listen(opts.port, opts.host ?? '127.0.0.1', resolve));
  const addr = http.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    async close() {
      await new Promise<void>((resolve) => {
        void io.close(() => resolve());
      });
      await opts.writer?.close();
    },
  };
}

if (isMain(import.meta.url)) {
  const secret = process.env.JWT_SECRET;
  if (!secret) {
    console.error('socketio-server: JWT_SECRET is required');
    process.exit(1);
  }
  const writer = process.env.DATABASE_URL ? createPgDraftWriter(process.env.DATABASE_URL) : undefined;
  startSocketIoPeer({ port: Number(process.env.PORT ?? 3100), secret, writer }).then(
    (peer) => {
      console.log(`listening ${new URL(peer.url).port}`);
      const stop = () => void peer.close().then(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    },
    (err: unknown) => {
      console.error(`socketio-server: ${String(err)}`);
      process.exit(1);
    },
  );
}
