/**
 * A CPU profile of the built service under the write-path bench's load: a fresh stack (lib/stack.ts:
 * PostgreSQL with fsync on, or embedded), `rtctl latency` at --rate for --duration, the service run
 * with `--cpu-prof` so Node writes a .cpuprofile when it exits (SIGTERM at the end), then the hottest
 * functions and packages by self time printed (lib/cpuprofile.ts). Open the file in Chrome DevTools
 * or speedscope for the full picture.
 *
 *   npx tsx loadtest/profile-write.ts [--mode postgres|embedded|embedded-worker] [--rate 300] [--duration 20]
 *                                     [--harness] [--out loadtest/results/profiles] [--top 40]
 * (--harness: rtctl is profiled too)
 */
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { summarizeProfile } from './lib/cpuprofile.js';
import { ensureBuilt } from './lib/build.js';
import { isMain, RESULTS_DIR, runMain } from './lib/cli.js';
import { handleInterrupts } from './lib/interrupt.js';
import { describeRun } from './lib/latency-run.js';
import type { StorageMode } from './lib/stack.js';
import { runOnFreshStack } from './write-ceiling.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string', default: 'postgres' },
      rate: { type: 'string', default: '300' },
      duration: { type: 'string', default: '20' },
      users: { type: 'string', default: '100' },
      out: { type: 'string', default: join(RESULTS_DIR, 'profiles') },
      top: { type: 'string', default: '40' },
      harness: { type: 'boolean', default: false },
    },
  });
  const mode = values.mode as StorageMode;
  if (!['postgres', 'embedded', 'embedded-worker'].includes(mode)) throw new Error(`--mode: postgres, embedded or embedded-worker, not '${values.mode}'`);
  const dir = resolve(values.out);
  mkdirSync(dir, { recursive: true });
  ensureBuilt();
  const interrupt = handleInterrupts();
  const before = new Set(readdirSync(dir));
  const harnessDir = join(dir, `rtctl-${Date.now()}`);
  if (values.harness) mkdirSync(harnessDir);
  // The stack stops the service with SIGTERM at the end: Node writes its profile as it exits.
  const run = await runOnFreshStack(
    mode,
    { rate: Number(values.rate), users: Number(values.users), devices: 3, durationS: Number(values.duration), warmupS: 5 },
    interrupt,
    {
      service: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
      // Its own folder and Node's default names: tsx's loader thread writes a profile too, and one
      // --cpu-prof-name for both threads would keep only the last one written.
      harness: values.harness ? ['--cpu-prof', `--cpu-prof-dir=${harnessDir}`] : undefined,
    },
  );
  console.log(describeRun(run));
  const made = [
    ...readdirSync(dir).filter((f) => f.endsWith('.cpuprofile') && !before.has(f)).map((f) => join(dir, f)),
    ...(values.harness ? readdirSync(harnessDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(harnessDir, f)) : []),
  ];
  if (made.length === 0) throw new Error(`no .cpuprofile written in ${dir}`);
  for (const file of made.sort((a, b) => statSync(b).size - statSync(a).size)) {
    console.log(`\n${file}`);
    console.log(summarizeProfile(file, Number(values.top)));
  }
}

if (isMain(import.meta.url)) runMain('profile-write', main);
