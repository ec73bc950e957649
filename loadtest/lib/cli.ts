/** What every standalone scenario does: know whether it is the entry point, write JSON results, exit cleanly. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Interrupted, type Interrupt } from './interrupt.js';

export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

/** True when the module at `metaUrl` was started directly (`npx tsx loadtest/<file>.ts`), not imported. */
export function isMain(metaUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && pathToFileURL(resolve(entry)).href === metaUrl;
}

/** `loadtest/results/<name>-<timestamp>.json`; returns the path. */
export function writeResult(name: string, data: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${name}-${stamp()}.json`);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

/** 2026-11-22T03-04-05Z: sortable and safe in file names. */
export function stamp(d = new Date()): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

/** Runs a scenario's main; with `interrupt`, any failure after a Ctrl-C counts as the interruption (exit 130). */
export function runMain(name: string, fn: () => Promise<void>, interrupt?: Interrupt): void {
  fn().then(
    () => process.exit(0),
    (err: unknown) => {
      if (err instanceof Interrupted || interrupt?.signal.aborted) {
        console.error(`${name}: interrupted; every process it started is stopped`);
        process.exit(130);
      }
      console.error(`${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(1);
    },
  );
}
