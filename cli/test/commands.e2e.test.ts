/**
 * Every rtctl command, run as a real child process against a real service on an ephemeral port.
 * Pipes, not a terminal: plain lines or NDJSON, diagnostics on stderr, exit codes as documented.
 * Each test starts several node processes (1-3 s each on a busy machine): hence the long timeouts.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mintToken, newDraft, startService, TEST_SECRET, type TestService } from '../../service/test/support/harness.js';
import { closedPortUrl, RunningCli, runRtctl } from './support/run-cli.js';

const user = () => `u-${randomUUID().slice(0, 8)}`;

describe('rtctl commands against a running service', () => {
  let svc: TestService;
  let admin: string;
  const running: RunningCli[] = [];
  const start = (args: string[], env: Record<string, string> = {}) => {
    const cli = new RunningCli(args, env);
    running.push(cli);
    return cli;
  };

  let down: string;
  beforeAll(async () => {
    down = await closedPortUrl();
    svc = await startService({ storage: 'pglite', logLevel: 'warn' });
    admin = await mintToken('ops', { admin: true });
  });
  afterEach(() => {
    running.splice(0).forEach((c) => c.kill());
  });
  afterAll(async () => {
    await svc?.close();
  });

  describe('token', () => {
    it('mints a token the service accepts, prints only the token, and --check explains invalid ones', async () => {
      const minted = await runRtctl(['token', '--user', 'ops', '--admin', '--ttl', '10m'], { JWT_SECRET: TEST_SECRET });
      expect(minted.code).toBe(0);
      expect(minted.stderr).toBe('');
      const token = minted.stdout.trim();
      expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      const res = await fetch(`${svc.url}/api/websocket/stats`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);

      const ok = await runRtctl(['token', '--check', token], { JWT_SECRET: TEST_SECRET });
      expect(ok.code).toBe(0);
      expect(ok.stdout).toMatch(/valid: user ops, admin, expires in 9m5\ds/);

      const badSig = await runRtctl(['token', '--check', await mintToken('x', { secret: 'another-secret-0123456789-0123456789-xx' })], { JWT_SECRET: TEST_SECRET });
      expect(badSig.code).toBe(1);
      expect(badSig.stderr).toMatch(/invalid token \(signature\)/);

      const expired = await runRtctl(['token', '--check', await mintToken('x', { ttlSec: -60 })], { JWT_SECRET: TEST_SECRET });
      expect(expired.code).toBe(1);
      expect(expired.stderr).toMatch(/invalid token \(expired\)/);

      const garbage = await runRtctl(['token', '--check', 'not-a-jwt'], { JWT_SECRET: TEST_SECRET });
      expect(garbage.code).toBe(1);
      expect(garbage.stderr).toMatch(/invalid token \(malformed\)/);
    }, 120_000);

    it('refuses clearly without a secret (exit 2), and --dev uses the development secret with a warning', async () => {
      const refused = await runRtctl(['token', '--user', 'ops']);
      expect(refused.code).toBe(2);
      expect(refused.stdout).toBe('');
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expect(refused.stderr).toMatch(/No signing secret: set JWT_SECRET/);

      const dev = await runRtctl(['token', '--user', 'ops', '--dev']);
      expect(dev.code).toBe(0);
      expect(dev.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(dev.stderr).toMatch(/warning: using the built-in development secret/);
    }, 120_000);
  });

  describe('tail', () => {
    it('prints a live event as it arrives, marks its own echoes, and exits 0 on Ctrl-C', async () => {
      const u = user();
      const tail = start(['--url', svc.url, 'tail', '--user', u, '--device', 'cli-dev'], { JWT_SECRET: TEST_SECRET });
      await tail.waitFor((c) => c.stderr.includes('connected to'), 'connected');
      await svc.api(u, { deviceId: 'phone' }).post('/api/drafts', newDraft({ customerName: 'Rossi Srl' }));
      await svc.api(u, { deviceId: 'cli-dev' }).post('/api/drafts', newDraft({ customerName: 'Bianchi' }));
      await tail.waitFor((c) => c.lines().length >= 2, 'two event lines');
      const [first, second] = tail.lines();
      expect(first).toMatch(/#1\s+DRAFT_CREATED\s+\+\d+(ms|\.\ds)\s+from phone\s+draft \w{8} Rossi Srl, 1 item/);
      expect(second).toMatch(/#2\s+DRAFT_CREATED .*from cli-dev \(own\).*Bianchi/);
      expect(tail.stdout).not.toContain('\u001b['); // not a TTY: no colour
      tail.signal('SIGINT');
      expect(await tail.exited).toBe(0);
    }, 120_000);

    it('--json writes one parseable object per line on stdout and nothing else; --since replays; --type filters', async () => {
      const u = user();
      const api = svc.api(u, { deviceId: 'phone' });
      const draft = newDraft();
      await api.post('/api/drafts', draft);
      expect((await api.del(`/api/drafts/${draft.id}`)).status).toBe(200);
      const tail = start(['--json', '--url', svc.url, 'tail', '--user', u, '--since', '0', '--type', 'DRAFT_C*,DRAFT_DELETED'], { JWT_SECRET: TEST_SECRET });
      await tail.waitFor((c) => c.lines().length >= 2, 'replayed events');
      await api.post('/api/drafts', newDraft());
      await tail.waitFor((c) => c.lines().length >= 3, 'live event');
      const objs = tail.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(objs.map((o) => [o.type, o.seq, o.replayed])).toEqual([
        ['DRAFT_CREATED', 1, true],
        ['DRAFT_DELETED', 2, true],
        ['DRAFT_CREATED', 3, false],
      ]);
      expect(objs[0]).toMatchObject({ originDeviceId: 'phone', own: false, payload: { draftId: draft.id } });
      expect(typeof objs[0]!.ageMs).toBe('number');
      expect(tail.stderr).toMatch(/replaying 2 missed event\(s\): seq 1-2/);
      tail.signal('SIGINT');
      expect(await tail.exited).toBe(0);
    }, 120_000);

    it('shows a reconnect and resumes without loss when the server drops it', async () => {
      const u = user();
      const tail = start(['--json', '--url', svc.url, 'tail', '--user', u], { JWT_SECRET: TEST_SECRET });
      await tail.waitFor((c) => c.stderr.includes('connected to'), 'connected');
      await svc.api(u).post('/api/drafts', newDraft());
      await tail.waitFor((c) => c.lines().length === 1, 'first event');
      svc.app.hub.allConnections().find((c) => c.userId === u)!.close(4429, 'slow consumer: reconnect and resume');
      await svc.api(u).post('/api/drafts', newDraft());
      await tail.waitFor((c) => c.lines().length === 2, 'event after the reconnect');
      expect(tail.stderr).toMatch(/disconnected \(4429 slow consumer.*\); reconnecting to .* resuming after seq 1/);
      expect(tail.lines().map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([1, 2]);
    }, 120_000);

    it('fails clearly: unreachable server (3), refused token (4), no token (2), bad URL (2)', async () => {
      const unreachable = await runRtctl(['--url', down, 'tail', '--token', 'x.y.z']);
      expect(unreachable.code).toBe(3);
      expect(unreachable.stderr.trim()).toMatch(/^rtctl: Cannot connect to ws:\/\/127\.0\.0\.1:\d+\/ws\/realtime .*Is the service running\? Check --url or RT_URL\.$/);

      const refused = await runRtctl(['--url', svc.url, 'tail', '--token', await mintToken('x', { secret: 'another-secret-0123456789-0123456789-xx' })]);
      expect(refused.code).toBe(4);
      expect(refused.stderr.trim()).toMatch(/^rtctl: .*refused the token \(HTTP 401\)\. Pass a valid --token/);

      const noToken = await runRtctl(['--url', svc.url, 'tail']);
      expect(noToken.code).toBe(2);
      expect(noToken.stderr).toMatch(/tail needs a token/);

      const badUrl = await runRtctl(['--url', 'nope', 'tail', '--token', 'x']);
      expect(badUrl.code).toBe(2);
      expect(badUrl.stderr.trim()).toBe("rtctl: Invalid --url 'nope': expected http://host:port (e.g. http://127.0.0.1:3000)");
    }, 120_000);
  });

  describe('admin views', () => {
    it('stats works as admin (table and --json) and fails clearly as an agent (exit 4)', async () => {
      const u = user();
      const d = await svc.device(u, 'phone');
      await d.waitForType('HELLO');
      const table = await runRtctl(['--url', svc.url, '--token', admin, 'stats']);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/^INSTANCE\s+UPTIME\s+CONNECTIONS\s+USERS/);
      expect(table.stdout).toContain(svc.app.instanceId);

      const json = await runRtctl(['--url', svc.url, 'stats', '--json'], { RT_TOKEN: admin });
      expect(json.code).toBe(0);
      const stats = JSON.parse(json.stdout) as { instanceId: string; totalConnections: number };
      expect(stats.instanceId).toBe(svc.app.instanceId);
      expect(stats.totalConnections).toBeGreaterThanOrEqual(1);

      const agent = await runRtctl(['--url', svc.url, '--token', await mintToken(u), 'stats']);
      expect(agent.code).toBe(4);
      expect(agent.stdout).toBe('');
      expect(agent.stderr.trim().split('\n')).toHaveLength(1);
      expect(agent.stderr).toMatch(/needs an admin token \(403 .*\)\. Mint one with: rtctl token --user <id> --admin/);
      expect(agent.stderr).not.toMatch(/\n\s+at /); // no stack trace
      d.terminate();
    }, 120_000);

    it('stats fails clearly when the server is unreachable (exit 3)', async () => {
      const r = await runRtctl(['--url', down, '--token', admin, 'stats']);
      expect(r.code).toBe(3);
      expect(r.stderr.trim()).toBe(`rtctl: Cannot reach ${down}: connection refused. Is the service running? Check --url or RT_URL.`);
    }, 120_000);

    it('buffer lists users and shows one user\'s buffered events; connections lists devices', async () => {
      const u = user();
      const d = await svc.device(u, 'tablet');
      await d.waitForType('HELLO');
      await svc.api(u, { deviceId: 'phone' }).post('/api/drafts', newDraft({ customerName: 'Verdi' }));
      await d.waitForSeq(1);

      const all = await runRtctl(['--url', svc.url, '--token', admin, 'buffer']);
      expect(all.code).toBe(0);
      expect(all.stdout).toMatch(new RegExp(`${u}\\s+1\\s+1\\s+1\\s+1-1`));

      const one = await runRtctl(['--url', svc.url, '--token', admin, 'buffer', u]);
      expect(one.code).toBe(0);
      expect(one.stdout).toMatch(/^1\s+DRAFT_CREATED\s+\S+\s+phone\s+\d+\s+draft \w{8} Verdi/m);

      const oneJson = await runRtctl(['--json', '--url', svc.url, '--token', admin, 'buffer', u]);
      expect(JSON.parse(oneJson.stdout)).toMatchObject({ userId: u, deliveredSeq: 1, events: [{ seq: 1, type: 'DRAFT_CREATED' }] });

      const missing = await runRtctl(['--url', svc.url, '--token', admin, 'buffer', 'nobody-here']);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/No ring buffer for user nobody-here/);

      const conns = await runRtctl(['--json', '--url', svc.url, '--token', admin, 'connections', '--user', u]);
      expect(conns.code).toBe(0);
      expect(JSON.parse(conns.stdout)).toMatchObject({ count: 1, connections: [{ userId: u, deviceId: 'tablet', sentSeq: 1 }] });
      const connsTable = await runRtctl(['--url', svc.url, '--token', admin, 'connections', '--user', u]);
      expect(connsTable.stdout).toMatch(new RegExp(`${svc.app.instanceId}\\s+${u}\\s+tablet`));
      d.terminate();
    }, 120_000);

    it('usage errors are one line with exit 2', async () => {
      const r = await runRtctl(['stats', '--bogus']);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe("rtctl: unknown option '--bogus' (see rtctl --help)");
      const help = await runRtctl(['--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/Exit codes:\n\s+0\s+success/);
    }, 120_000);
  });

  describe('top (plain output when not a terminal)', () => {
    it('prints per-instance connections, event rates and delivery latency from /metrics', async () => {
      const u = user();
      const d = await svc.device(u, 'phone');
      await d.waitForType('HELLO');
      await svc.api(u).post('/api/drafts', newDraft());
      await d.waitForSeq(1);
      const r = await runRtctl(['--json', '--url', svc.url, 'top', '--interval', '300', '--count', '2']);
      expect(r.code).toBe(0);
      const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines).toHaveLength(2);
      expect(lines[1]).toMatchObject({ instanceId: svc.app.instanceId, ready: true, error: null });
      expect(lines[1]!.connections).toBeGreaterThanOrEqual(1);
      expect(lines[1]!.p50).toEqual(expect.any(Number));
      expect((lines[1]!.rates as { type: string }[]).map((x) => x.type)).toContain('DRAFT_CREATED');
      d.terminate();

      const unreachable = await runRtctl(['--url', down, 'top', '--count', '1']);
      expect(unreachable.code).toBe(3);
    }, 120_000);
  });
});
