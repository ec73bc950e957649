/**
 * rtctl's entry point: `cli/bin/rtctl.js` runs it from the sources through tsx (a fresh clone needs
 * no build step), `node dist/cli/src/main.js` runs it compiled (`npm run build`; what the benches
 * run, so the harness they measure is not tsx's output: esbuild's `__name` call on every closure
 * created, its loader hooks).
 */
import process from 'node:process';
import { runCli } from './cli.js';

// `rtctl tail --json | head`: the reader went away; that is the end of the output, not a crash.
process.stdout.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? 0 : 1));
const code = await runCli(process.argv, { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
// Let stdout drain (pipes) before exiting; open sockets or timers must not keep the process alive.
process.stdout.write('', () => process.exit(code));
