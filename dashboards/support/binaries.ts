/**
 * Finding prometheus and promtool. Under CI a missing binary fails the tests that need it (a CI run
 * must never pass by skipping them); on a developer machine those tests are skipped with the
 * reason, because the binaries are a system package (Debian: `apt-get install prometheus`).
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export const isCI = process.env.CI === 'true' || process.env.CI === '1';

export function findBinary(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/usr/local/bin'];
  for (const dir of dirs) {
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

export interface Binary {
  name: string;
  path: string | null;
  /** Set only off CI when the binary is missing: the tests skip with this reason. */
  skipReason: string | null;
}

export function binary(name: string, opts: { quiet?: boolean } = {}): Binary {
  const path = findBinary(name);
  const skipReason = path || isCI ? null : `${name} not found on PATH or in /usr/bin (Debian: apt-get install prometheus); skipped locally, required under CI=true`;
  if (skipReason && !opts.quiet) process.stderr.write(`\n[dashboards] ${skipReason}\n`);
  return { name, path, skipReason };
}

/** The binary's path, or a test failure saying why (reached only under CI when it is missing). */
export function need(b: Binary): string {
  if (!b.path) throw new Error(`${b.name} is required under CI=true but was not found on PATH or in /usr/bin; install the Debian package prometheus`);
  return b.path;
}
