/**
 * What a check scenario works with: simulated devices that record every event (with its arrival
 * time), a REST client per user, and waits that fail with a message saying what was expected and
 * what arrived. Time bounds are multiplied by --timeout-scale for slow shared machines.
 */
import { exec } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createNodeDevice } from '../../../client/src/node.js';
import type { Device, DeviceEvent } from '../../../client/src/realtime.js';
import type { HelloPayload } from '../../../service/src/protocol/index.js';
import type { TokenSource } from '../latency/tokens.js';

/** A scenario's expectation did not hold. */
export class CheckFailure extends Error {
  override name = 'CheckFailure';
}

/** The scenario cannot run here (e.g. graceful-restart without --restart-cmd). */
export class CheckSkipped extends Error {
  override name = 'CheckSkipped';
}

export interface RuntimeOptions {
  urls: string[];
  tokens: TokenSource;
  /** Mint a token with a given lifetime (needs a secret); null when only --token-cmd is available. */
  mintShort: ((userId: string, ttlSec: number) => Promise<string>) | null;
  timeoutScale: number;
  restartCmd: string | null;
  runId: string;
}

export interface ClosedInfo {
  code: number;
  reason: string;
  at: number;
}

/** A device that records everything it sees. */
export class RecordingDevice {
  readonly events: DeviceEvent[] = [];
  readonly hellos: HelloPayload[] = [];
  readonly resyncs: { reason: string; latestSeq: number; epoch: string }[] = [];
  readonly closes: ClosedInfo[] = [];
  readonly renewals: number[] = [];
  duplicates = 0;
  gaps = 0;
  private waiters = new Set<() => void>();

  constructor(
    readonly name: string,
    readonly userId: string,
    readonly device: Device,
  ) {
    const poke = () => {
      for (const w of [...this.waiters]) w();
    };
    device.on('event', (e) => (this.events.push(e), poke()));
    device.on('hello', (h) => (this.hellos.push(h), poke()));
    device.on('resync', (r) => (this.resyncs.push(r), poke()));
    device.on('closed', (c) => (this.closes.push({ code: c.code, reason: c.reason, at: performance.now() }), poke()));
    device.on('tokenRenewed', () => (this.renewals.push(performance.now()), poke()));
    device.on('duplicate', () => (this.duplicates += 1));
    device.on('gap', () => (this.gaps += 1));
    device.on('stopped', poke);
  }

  /** Stored events (with a seq). */
  stored(): DeviceEvent[] {
    return this.events.filter((e) => e.seq !== null);
  }

  types(from = 0): string[] {
    return this.events.slice(from).map((e) => e.type);
  }

  /** Resolve when `pred()` holds; fail after `ms` (already scaled) describing what arrived. */
  waitFor(pred: () => boolean, ms: number, what: string): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (pred()) {
          cleanup();
          resolve();
        } else if (this.device.state === 'stopped') {
          cleanup();
          reject(new CheckFailure(`${this.name}: stopped while waiting for ${what}; got ${this.describe()}`));
        }
      };
      const t = setTimeout(() => {
        cleanup();
        reject(new CheckFailure(`${this.name}: no ${what} within ${Math.round(ms)} ms; got ${this.describe()}`));
      }, ms);
      const cleanup = () => {
        clearTimeout(t);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  describe(): string {
    const ev = this.events.map((e) => `${e.type}${e.seq === null ? '' : `#${e.seq}`}`);
    return `[${ev.join(', ')}]${this.resyncs.length ? ` resyncs=${this.resyncs.map((r) => r.reason).join(',')}` : ''}${this.closes.length ? ` closes=${this.closes.map((c) => c.code).join(',')}` : ''}`;
  }
}

export interface ApiResult {
  status: number;
  body: any;
}

export class ScenarioRuntime {
  private readonly devices: RecordingDevice[] = [];
  private readonly users = new Set<string>();

  constructor(
    readonly opts: RuntimeOptions,
    readonly scenario: string,
  ) {}

  /** Scale a time bound. */
  ms(n: number): number {
    return n * this.opts.timeoutScale;
  }

  userId(name: string): string {
    const id = `chk-${this.opts.runId}-${this.scenario}-${name}`.slice(0, 120);
    this.users.add(id);
    return id;
  }

  /** Connect a device and wait for its HELLO. */
  async connect(
    name: string,
    userId: string,
    opts: { lastSeq?: number; epoch?: string; token?: string; getToken?: (() => Promise<string>) | null } = {},
  ): Promise<RecordingDevice> {
    const token = opts.token ?? (await this.opts.tokens(userId));
    const device = createNodeDevice({
      urls: this.opts.urls,
      deviceId: `${name}-${this.opts.runId}`,
      token,
      getToken: opts.getToken === null ? undefined : (opts.getToken ?? (() => this.opts.tokens(userId))),
      lastSeq: opts.lastSeq,
      epoch: opts.epoch,
      maxInitialAttempts: 3,
      backoff: { initialMs: 100, maxMs: 2_000 },
    });
    const rec = new RecordingDevice(name, userId, device);
    this.devices.push(rec);
    device.start();
    await rec.waitFor(() => rec.hellos.length > 0, this.ms(10_000), 'HELLO');
    return rec;
  }

  async api(userId: string, method: string, path: string, body?: unknown, deviceId?: string): Promise<ApiResult> {
    const url = this.opts.urls[0]!;
    const res = await fetch(url + path, {
      method,
      headers: {
        authorization: `Bearer ${await this.opts.tokens(userId)}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(deviceId ? { 'x-device-id': `${deviceId}-${this.opts.runId}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.ms(15_000)),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed };
  }

  /** A REST call that must answer `expected`; fails the check otherwise. */
  async must(expected: number | number[], userId: string, method: string, path: string, body?: unknown, deviceId?: string): Promise<any> {
    const r = await this.api(userId, method, path, body, deviceId);
    const ok = Array.isArray(expected) ? expected.includes(r.status) : r.status === expected;
    if (!ok) throw new CheckFailure(`${method} ${path} answered ${r.status} (expected ${String(expected)}): ${JSON.stringify(r.body).slice(0, 300)}`);
    return r.body;
  }

  restart(): Promise<void> {
    const cmd = this.opts.restartCmd;
    if (!cmd) return Promise.reject(new CheckSkipped('needs --restart-cmd (a command that makes the instance drain, e.g. kill -TERM <pid>)'));
    return new Promise((resolve, reject) => {
      exec(cmd, { timeout: this.ms(30_000) }, (err, _out, stderr) => (err ? reject(new CheckFailure(`--restart-cmd failed: ${(stderr || err.message).trim()}`)) : resolve()));
    });
  }

  /** Poll /readyz until the service answers 200. */
  async waitReady(ms: number): Promise<void> {
    const deadline = performance.now() + ms;
    for (;;) {
      try {
        if ((await fetch(`${this.opts.urls[0]}/readyz`, { signal: AbortSignal.timeout(2_000) })).ok) return;
      } catch {
        // restarting
      }
      if (performance.now() > deadline) throw new CheckFailure(`the service was not ready again within ${Math.round(ms)} ms`);
      await sleep(100);
    }
  }

  /** Close every device and delete what the scenario's users wrote. */
  async dispose(): Promise<void> {
    await Promise.all(this.devices.map((d) => d.device.close()));
    for (const user of this.users) {
      for (const [list, path] of [
        ['/api/drafts', '/api/drafts/'],
        ['/api/pending-orders', '/api/pending-orders/'],
      ] as const) {
        const r = await this.api(user, 'GET', list).catch(() => null);
        for (const item of (r?.body?.items ?? []) as { id: string }[]) await this.api(user, 'DELETE', path + item.id).catch(() => null);
      }
    }
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function draftBody(overrides: Record<string, unknown> = {}) {
  return { id: randomUUID(), customerId: 'C-check', customerName: 'Check Srl', items: [{ productId: 'P-1', quantity: 1 }], notes: null, updatedAt: new Date().toISOString(), ...overrides };
}

export function orderBody(overrides: Record<string, unknown> = {}) {
  return draftBody(overrides);
}

export function fail(message: string): never {
  throw new CheckFailure(message);
}

/** Assert a device's stored seqs are consecutive (no duplicate, no hole) from `from`. */
export function assertGapless(d: RecordingDevice, from?: number): void {
  const seqs = d.stored().map((e) => e.seq!);
  const start = from ?? seqs[0] ?? 1;
  seqs.forEach((s, i) => {
    if (s !== start + i) fail(`${d.name}: seq ${s} where ${start + i} was expected (got ${d.describe()})`);
  });
  if (d.duplicates > 0) fail(`${d.name}: ${d.duplicates} duplicate frame(s)`);
}
