/**
 * What the real-browser tests share: Debian's headless Chromium through playwright-core, and the
 * real service in this process on a fixed port and a PGlite data folder, so it can be stopped and
 * started again on the same port and the same database (a browser's queued writes and its socket
 * come back to the same address).
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { App } from '../../service/src/app.js';
import { composeApp } from '../../service/src/compose.js';
import { loadConfig } from '../../service/src/config.js';
import { createLogger } from '../../service/src/log.js';
import { DEV_JWT_SECRET } from '../../service/src/protocol/index.js';
import { freePort } from '../../tools/free-port.js';
import { mintToken } from '../../tools/token.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Why the browser suite cannot run here, or null when it can. Under CI a missing Chromium is a
 * failure (the caller throws), never a skip: .ci/run installs it.
 */
export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM_PATH) ? null : `no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

export interface DiskService {
  url: string;
  port: number;
  logs: string[];
  /** Graceful stop (sockets closed with 1012); the data folder stays. */
  stop(): Promise<void>;
  /** Start again on the same port and data folder. */
  start(): Promise<void>;
  /** A token this service accepts. */
  token(userId: string): Promise<string>;
  close(): Promise<void>;
}

/** The service on a PGlite data folder; `env` is added to the config (e.g. `{ JWT_SECRET: '' }` for the dev secret). */
export async function startDiskService(env: Record<string, string> = {}): Promise<DiskService> {
  const dataDir = await mkdtemp(join(tmpdir(), 'rt-browser-'));
  const port = await freePort();
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    SHUTDOWN_TIMEOUT_MS: '3000',
    RESTART_JITTER_MS: '100',
    ...env,
  });
  const secret = config.jwt.secret ?? DEV_JWT_SECRET;
  let app: App | null = null;
  const start = async () => {
    if (app) return;
    const log = createLogger({ level: config.logLevel, destination });
    ({ app } = await composeApp(config, log, { instanceId: `browser-${randomUUID().slice(0, 8)}` }));
    await app.listen(port, '127.0.0.1');
  };
  const stop = async () => {
    const a = app;
    app = null;
    await a?.close();
  };
  await start();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    logs,
    start,
    stop,
    token: (userId) => mintToken(userId, { secret }),
    async close() {
      await stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The demo page's client, as `page.evaluate` sees it (`window.demo`). */
export interface PageDemo {
  client: any;
  deviceId: string;
  userId: string;
  ready?: boolean;
}

/** Open the demo page with a token in the fragment and wait until its client started. */
export async function openDemo(page: Page, baseUrl: string, token: string): Promise<void> {
  await page.goto(`${baseUrl}/demo/#token=${encodeURIComponent(token)}`);
  await page.waitForFunction(() => (globalThis as { demo?: PageDemo }).demo?.ready === true, null, { timeout: 20_000 });
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
