/**
 * `rtctl revoke <userId>` as a real child process against a real service: the user's open socket
 * closes with 4401 and the old token is refused; plain and --json output; the errors are one line
 * with the documented exit codes.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken, startService, TestDevice, type TestService } from '../../service/test/support/harness.js';
import { closedPortUrl, runRtctl } from './support/run-cli.js';

const user = () => `u-${randomUUID().slice(0, 8)}`;

describe('rtctl revoke', () => {
  let svc: TestService;
  let admin: string;
  let down: string;
  beforeAll(async () => {
    down = await closedPortUrl();
    svc = await startService({ storage: 'pglite', logLevel: 'warn' });
    admin = await mintToken('ops', { admin: true });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it("revokes: the user's socket closes with 4401, the old token gets 401; plain and --json output", async () => {
    const u = user();
    const old = await mintToken(u);
    const dev = await TestDevice.connect(svc.wsUrl, old, { deviceId: 'phone' });
    await dev.waitForType('HELLO');

    const r = await runRtctl(['--url', svc.url, '--token', admin, 'revoke', u]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toMatch(
      new RegExp(`^revoked: tokens of ${u} issued before \\S+Z are refused; 1 socket\\(s\\) closed on ${svc.app.instanceId}, the other instances close theirs$`),
    );
    expect(await dev.closed(1_000)).toBe(4401);
    const res = await fetch(`${svc.url}/api/drafts`, { headers: { authorization: `Bearer ${old}` } });
    expect(res.status).toBe(401);

    const json = await runRtctl(['--json', '--url', svc.url, '--token', admin, 'revoke', u]);
    expect(json.code).toBe(0);
    const line = JSON.parse(json.stdout);
    expect(line).toMatchObject({ userId: u, closedConnections: 0, instanceId: svc.app.instanceId });
    expect(Number.isNaN(Date.parse(line.revokedAt))).toBe(false);
  }, 120_000);

  it('errors are one line: no token 2, an agent token 4, unreachable 3', async () => {
    const noToken = await runRtctl(['--url', svc.url, 'revoke', 'someone']);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr.trim().split('\n')).toHaveLength(1);
    expect(noToken.stderr).toMatch(/revoke needs an admin token/);

    const agent = await runRtctl(['--url', svc.url, '--token', await mintToken(user()), 'revoke', 'someone']);
    expect(agent.code).toBe(4);
    expect(agent.stderr.trim().split('\n')).toHaveLength(1);
    expect(agent.stderr).toMatch(/needs an admin token \(403/);

    const unreachable = await runRtctl(['--url', down, '--token', admin, 'revoke', 'someone']);
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr.trim()).toBe(`rtctl: Cannot reach ${down}: connection refused. Is the service running? Check --url or RT_URL.`);

    const missing = await runRtctl(['--url', svc.url, '--token', admin, 'revoke']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing required argument 'userId'/);
  }, 120_000);
});
