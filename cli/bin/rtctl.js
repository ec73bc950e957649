#!/usr/bin/env node
// rtctl launcher: runs the TypeScript sources through tsx, so a fresh clone needs no build step.
import process from 'node:process';
import { register } from 'tsx/esm/api';

register();
// `rtctl tail --json | head`: the reader went away; that is the end of the output, not a crash.
process.stdout.on('error', (err) => process.exit(err.code === 'EPIPE' ? 0 : 1));
const { runCli } = await import('../src/cli.tsx');
const code = await runCli(process.argv, { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
// Let stdout drain (pipes) before exiting; open sockets or timers must not keep the process alive.
process.stdout.write('', () => process.exit(code));
