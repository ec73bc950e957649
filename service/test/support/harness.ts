/**
 * Test harness: a real service on an ephemeral port (PGlite or a real PostgreSQL), real HTTP,
 * real devices (TestDevice: the client's Device over real `ws`). Nothing is mocked. Tokens and
 * ports come from tools/, shared with the CLI and the load tests.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import pg from 'pg';
import { inject } from 'vitest';
import { mintToken, TEST_SECRET } from '../../../tools/token.js';
import type { App } from '../../src/app.js';
import { composeApp } from '../../src/compose.js';
import { createPgliteWorkerRunner as createPgliteRunner } from '../../src/adapters/sql-pglite-worker.js';
import { createPostgresRunner } from '../../src/adapters/sql-postgres.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { createSqlStorage } from '../../src/storage/sql-storage.js';
import type { Storage } from '../../src/ports/storage.js';
import { TestDevice } from './test-device.js';

export { mintToken, TEST_SECRET } from '../../../tools/token.js';
export { TestDevice, type Frame, type TestDeviceOptions } from './test-device.js';

export type StorageKind = 'pglite' | 'postgres';

/** The storage variants every storage and end-to-end suite runs on, with a skip reason when unavailable. */
export function storageVariants(): { kind: StorageKind; skip: string | null }[] {
  return [
    { kind: 'pglite', skip: null },
    { kind: 'postgres', skip: inject('pgUnavailableReason') },
  ];
}

/** A fresh database on the run's PostgreSQL, so suites never see each other's rows. */
export async function createTestDatabase(): Promise<string> {
  const adminUrl = inject('pgAdminUrl');
  if (!adminUrl) throw new Error(inject('pgUnavailableReason') ?? 'no PostgreSQL');
  const name = `t_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function makeStorage(kind: StorageKind, databaseUrl?: string) {
  const runner =
    kind === 'pglite'
      ? await createPgliteRunner()
      : createPostgresRunner({ connectionString: databaseUrl ?? (await createTestDatabase()), max: 10 });
  return createSqlStorage(runner);
}

export interface StartOptions {
  storage: StorageKind;
  /** Reuse a database (several instances, restarts). Only for postgres. */
  databaseUrl?: string;
  env?: Record<string, string>;
  logLevel?: string;
}

export interface TestService {
  app: App;
  storage: Storage;
  url: string;
  wsUrl: string;
  databaseUrl: string | undefined;
  logs: string[];
  token(userId: string, opts?: { admin?: boolean; ttlSec?: number; secret?: string }): Promise<string>;
  api(userId: string, opts?: { admin?: boolean; deviceId?: string }): Api;
  device(userId: string, deviceId: string, query?: Record<string, string | number>): Promise<TestDevice>;
  close(): Promise<void>;
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
}

export interface Api {
  get<T = any>(path: string): Promise<ApiResponse<T>>;
  post<T = any>(path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse<T>>;
  put<T = any>(path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse<T>>;
  del<T = any>(path: string): Promise<ApiResponse<T>>;
  raw(path: string, init: RequestInit): Promise<ApiResponse>;
}

export async function startService(opts: StartOptions): Promise<TestService> {
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const databaseUrl = opts.storage === 'postgres' ? (opts.databaseUrl ?? (await createTestDatabase())) : undefined;
  const config = loadConfig({
    JWT_SECRET: TEST_SECRET,
    LOG_LEVEL: opts.logLevel ?? 'debug',
    HOST: '127.0.0.1',
    PORT: '0',
    ERP_DELAY_MS: '40',
    JOB_BACKOFF_MS: '50',
    SHUTDOWN_TIMEOUT_MS: '3000',
    RESTART_JITTER_MS: '200',
    ...opts.env,
  });
  const log = createLogger({ level: config.logLevel, destination });
  const storage = await makeStorage(opts.storage, databaseUrl);
  const { app } = await composeApp(config, log, { instanceId: `test-${randomUUID().slice(0, 8)}`, storage });
  const { url } = await app.listen(0, '127.0.0.1');
  const wsUrl = `${url.replace('http', 'ws')}/ws/realtime`;
  const devices = new Set<TestDevice>();

  const api = (userId: string, apiOpts: { admin?: boolean; deviceId?: string } = {}): Api => {
    const tokenP = mintToken(userId, { admin: apiOpts.admin });
    const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(url + path, {
        method,
        headers: {
          authorization: `Bearer ${await tokenP}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(apiOpts.deviceId ? { 'x-device-id': apiOpts.deviceId } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    };
    return {
      get: (p) => call('GET', p),
      post: (p, b, h) => call('POST', p, b, h),
      put: (p, b, h) => call('PUT', p, b, h),
      del: (p) => call('DELETE', p),
      async raw(p, init) {
        const res = await fetch(url + p, {
          ...init,
          headers: { authorization: `Bearer ${await tokenP}`, ...(init.headers as Record<string, string>) },
        });
        const text = await res.text();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON
        }
        return { status: res.status, body };
      },
    };
  };

  return {
    app,
    storage,
    url,
    wsUrl,
    databaseUrl,
    logs,
    token: (userId, o) => mintToken(userId, o),
    api,
    async device(userId, deviceId, query = {}) {
      const token = await mintToken(userId);
      const d = await TestDevice.connect(wsUrl, token, { deviceId, ...query });
      devices.add(d);
      return d;
    },
    async close() {
      for (const d of devices) d.terminate();
      await app.close();
    },
  };
}

export function newDraft(overrides: Record<string, unknown> = {}) {
  return {
    id: randomUUID(),
    customerId: 'C-1',
    customerName: 'Rossi Srl',
    items: [{ productId: 'P-1', quantity: 2, price: 10.5 }],
    notes: null,
    updatedAt: new Date().toISOString(),
    ...overrides,
  };
}

export function later(iso: string, ms = 1000): string {
  return new Date(Date.parse(iso) + ms).toISOString();
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
