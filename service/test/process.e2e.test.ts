/** The service as an operator runs it: a real process, real signals. */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseRetryAfterMs } from '../src/protocol/index.js';
import { mintToken, TestDevice } from './support/harness.js';
import { spawnService } from './support/service-process.js';

describe('service process', () => {
  it('SIGTERM drains: sockets get 1012 with a retry delay, the process exits 0, and no token reaches the log', async () => {
    const svc = await spawnService({ RESTART_JITTER_MS: '300', LOG_LEVEL: 'debug' }, 'proc-a');
    const token = await mintToken(`u-${randomUUID()}`);
    const dev = await TestDevice.connect(svc.wsUrl, token, { deviceId: 'phone' }, { viaQuery: true });
    await dev.waitForType('HELLO');
    await fetch(`${svc.url}/api/drafts?token=${token}`, { headers: { authorization: `Bearer ${token}` } });
    const code = await svc.kill('SIGTERM');
    expect(code).toBe(0);
    expect(await dev.closed()).toBe(1012);
    expect(parseRetryAfterMs(dev.closeReason)).toBeLessThanOrEqual(300);
    expect(svc.output()).toContain('shutting down');
    expect(svc.output()).toContain('[REDACTED]');
    expect(svc.output()).not.toContain(token);
  });

  it('a second signal during the drain exits at once', async () => {
    const svc = await spawnService({ SHUTDOWN_DRAIN_DELAY_MS: '20000', SHUTDOWN_TIMEOUT_MS: '30000' }, 'proc-b');
    const exited = new Promise<number | null>((r) => svc.proc.once('exit', (c) => r(c)));
    svc.proc.kill('SIGTERM');
    for (let i = 0; i < 50; i += 1) {
      const r = await fetch(`${svc.url}/readyz`).catch(() => null);
      if (r?.status === 503) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    expect((await fetch(`${svc.url}/readyz`)).status).toBe(503);
    const t0 = Date.now();
    svc.proc.kill('SIGINT');
    expect(await exited).toBe(1);
    expect(Date.now() - t0).toBeLessThan(10_000); // far below the 20 s drain it interrupted
    expect(svc.output()).toContain('second signal');
  });

  it('bad configuration stops start-up with a message naming the variable', async () => {
    await expect(spawnService({ PORT: '3000', HEARTBEAT_MS: 'often' }, 'proc-c')).rejects.toThrow(/HEARTBEAT_MS/);
    await expect(spawnService({ JWT_SECRET: 'short' }, 'proc-d')).rejects.toThrow(/JWT_SECRET must be at least 32 bytes/);
  });
});
