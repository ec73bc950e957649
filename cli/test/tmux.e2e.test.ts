/**
 * The whole program in a real terminal: `rtctl tail` under tmux renders with Ink (a TTY), shows a
 * live event, and quits on Ctrl-C with exit 0. Uses its own tmux server socket (-S), removed after.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newDraft, startService, TEST_SECRET, type TestService } from '../../service/test/support/harness.js';
import { REPO_ROOT, RTCTL } from './support/run-cli.js';

// Skipped only where tmux is not installed (it is in this project's dev and CI images).
const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const socket = join(tmpdir(), `rtctl-tmux-${randomUUID().slice(0, 8)}.sock`);
const tmux = (...args: string[]) => execFileSync('tmux', ['-S', socket, ...args], { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', 'tail');

async function waitForScreen(re: RegExp, what: string, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = screen();
    if (re.test(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; screen:\n${s}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!hasTmux)('rtctl tail in a real terminal (tmux)', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService({ storage: 'pglite', logLevel: 'warn' });
  });
  afterAll(async () => {
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
    rmSync(socket, { force: true });
    await svc?.close();
  });

  it('renders events live and quits on Ctrl-C with exit 0', async () => {
    const u = `u-${randomUUID().slice(0, 8)}`;
    const cmd = [
      'env -i',
      `PATH=${JSON.stringify(process.env.PATH ?? '/usr/bin:/bin')}`,
      `HOME=${JSON.stringify(process.env.HOME ?? '/tmp')}`,
      'TERM=xterm-256color',
      `JWT_SECRET=${TEST_SECRET}`,
      JSON.stringify(process.execPath),
      JSON.stringify(RTCTL),
      `--url ${svc.url} tail --user ${u} --device tmux-dev`,
      '; echo "EXIT=$?"; sleep 60',
    ].join(' ');
    tmux('new-session', '-d', '-s', 'tail', '-x', '150', '-y', '30', '-c', REPO_ROOT, cmd);

    await waitForScreen(/● live/, 'the live status bar');
    await svc.api(u, { deviceId: 'phone' }).post('/api/drafts', newDraft({ customerName: 'Terminale Srl' }));
    const s = await waitForScreen(/DRAFT_CREATED/, 'the event line');
    expect(s).toMatch(/#1\s+DRAFT_CREATED\s+\+\S+\s+from phone\s+draft \w{8} Terminale Srl, 1 item/);
    expect(s).toMatch(/-- connected to ws:\/\/127\.0\.0\.1:\d+\/ws\/realtime/);
    expect(s).toMatch(/● live .* seq 1\s+1 event\(s\)/);

    tmux('send-keys', '-t', 'tail', 'C-c');
    const end = await waitForScreen(/EXIT=\d+/, 'rtctl to exit');
    expect(end).toContain('EXIT=0');
    tmux('kill-session', '-t', 'tail');
  });

  it('top draws the dashboard of the instance and q quits with exit 0', async () => {
    await svc.api(`u-${randomUUID().slice(0, 8)}`).post('/api/drafts', newDraft());
    const cmd = `env -i PATH=${JSON.stringify(process.env.PATH ?? '/usr/bin:/bin')} TERM=xterm-256color ${JSON.stringify(process.execPath)} ${JSON.stringify(RTCTL)} --url ${svc.url} top --interval 300; echo "EXIT=$?"; sleep 60`;
    tmux('new-session', '-d', '-s', 'tail', '-x', '150', '-y', '30', '-c', REPO_ROOT, cmd);
    const s = await waitForScreen(/DRAFT_CREATED/, 'the event rates');
    expect(s).toContain(svc.app.instanceId);
    expect(s).toMatch(/connections \d+\s+users \d+\s+buffer \d+ user\(s\)/);
    expect(s).toMatch(/delivery p50 \S+ms\s+p99 \S+ms/);
    tmux('send-keys', '-t', 'tail', 'q');
    expect(await waitForScreen(/EXIT=\d+/, 'rtctl to exit')).toContain('EXIT=0');
    tmux('kill-session', '-t', 'tail');
  });

  it('with CI set, even in a terminal, it writes plain lines (no Ink status bar)', async () => {
    const u = `u-${randomUUID().slice(0, 8)}`;
    const cmd = `env -i PATH=${JSON.stringify(process.env.PATH ?? '/usr/bin:/bin')} TERM=xterm-256color CI=1 JWT_SECRET=${TEST_SECRET} ${JSON.stringify(process.execPath)} ${JSON.stringify(RTCTL)} --url ${svc.url} tail --user ${u}; echo "EXIT=$?"; sleep 60`;
    tmux('new-session', '-d', '-s', 'tail', '-x', '150', '-y', '30', '-c', REPO_ROOT, cmd);
    await waitForScreen(/-- connected to/, 'the connected line');
    await svc.api(u, { deviceId: 'phone' }).post('/api/drafts', newDraft());
    const s = await waitForScreen(/DRAFT_CREATED/, 'the event line');
    expect(s).not.toContain('● live');
    tmux('send-keys', '-t', 'tail', 'C-c');
    expect(await waitForScreen(/EXIT=\d+/, 'rtctl to exit')).toContain('EXIT=0');
  });
});
