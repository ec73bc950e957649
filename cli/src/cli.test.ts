/** rtctl's help, in process: every command lists its own options and the global ones. */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCli } from './cli.js';
import type { Io } from './context.js';

async function rtctl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += String(c)));
  stderr.on('data', (c: Buffer) => (err += String(c)));
  const io = { stdout, stderr, stdin: new PassThrough(), env: {} } as unknown as Io;
  const code = await runCli(['node', 'rtctl', ...args], io);
  return { code, stdout: out, stderr: err };
}

const COMMANDS = ['token', 'tail', 'stats', 'buffer', 'connections', 'revoke', 'top', 'check', 'latency'];

describe('rtctl --help', () => {
  it('lists every command', async () => {
    const help = await rtctl('--help');
    expect(help.code).toBe(0);
    for (const name of COMMANDS) expect(help.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
  });

  it.each(COMMANDS)("'%s --help' shows the global options --json, --url, --token and --no-color", async (name) => {
    const help = await rtctl(name, '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(new RegExp(`^Usage: rtctl ${name} `, 'm'));
    const global = help.stdout.slice(help.stdout.indexOf('Global Options:'));
    expect(help.stdout).toContain('Global Options:');
    for (const flag of ['--json', '--url <url>', '--token <jwt>', '--no-color']) expect(global).toContain(flag);
  });

  it("a command's own options stay in its Options section", async () => {
    const help = (await rtctl('tail', '--help')).stdout;
    const own = help.slice(help.indexOf('Options:'), help.indexOf('Global Options:'));
    expect(own).toContain('--since <seq>');
    expect(own).not.toContain('--json');
  });
});
