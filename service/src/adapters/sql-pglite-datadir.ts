/**
 * Where the PGlite worker keeps its files. Always a folder on disk, also in "memory" mode: PGlite's
 * in-memory file system (MEMFS) keeps every file in one typed array that it reallocates and copies
 * as the file grows (by 1/8 past 1 MB), which stalls for tens to hundreds of ms under a stream of
 * writes and holds the whole database in the process's RSS. On disk the OS page cache holds it.
 *
 * A fresh folder is a copy of an initialized template with the service's schema already migrated
 * (initdb and the migrations once per PGlite version, schema and machine, in a child process,
 * ~6 s), so a start costs a copy of ~40 MB instead of an initdb and the migrations. The storage
 * still runs its migrations at start-up: on a copy of the template they find nothing to do. Running
 * them in the worker at every start cost ~1 s, and the WASM functions they made hot were compiled
 * by TurboFan, ~20–25 MB more RSS when ready.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { MIGRATIONS } from '../storage/migrations.js';
import { processArgs, workerScriptUrl } from './sql-pglite-launch.js';

const SCRATCH_PREFIX = 'archibald-pglite-';

function pgliteVersion(): string {
  const require = createRequire(import.meta.url);
  const main = require.resolve('@electric-sql/pglite'); // <pkg>/dist/index.cjs
  const pkg = JSON.parse(readFileSync(join(dirname(main), '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** Changes with any migration, so a template made for another schema is never copied. */
export function schemaKey(migrations: readonly unknown[] = MIGRATIONS): string {
  return createHash('sha256').update(JSON.stringify(migrations)).digest('hex').slice(0, 12);
}

const isInitialized = (dir: string) => existsSync(join(dir, 'PG_VERSION'));

/**
 * What a fresh folder starts as: the service's schema already migrated (the default), or an empty
 * database (for code that runs the migrations itself from an older schema, as a test of them does).
 */
export type FreshSchema = 'migrated' | 'empty';

function runInitdb(dir: string, schema: FreshSchema): Promise<void> {
  return new Promise((resolve, reject) => {
    const args = ['--initdb', dir, ...(schema === 'migrated' ? ['--migrate'] : [])];
    const child = spawn(process.execPath, processArgs(workerScriptUrl(), args), {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += String(c)));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`PGlite initdb exited with ${code}: ${stderr.trim().slice(-500)}`)),
    );
  });
}

/** The initialized template folder for this PGlite version (and schema, when migrated), created on first use. */
async function template(schema: FreshSchema): Promise<string> {
  const dir = join(tmpdir(), `${SCRATCH_PREFIX}template-${pgliteVersion()}${schema === 'migrated' ? `-${schemaKey()}` : ''}`);
  if (isInitialized(dir)) return dir;
  const building = mkdtempSync(`${dir}.building-`);
  try {
    await runInitdb(building, schema);
    try {
      renameSync(building, dir);
    } catch (err) {
      // Another process built it at the same time: theirs is as good as ours.
      if (!isInitialized(dir)) throw err;
    }
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return dir;
}

/** Make `dir` an initialized data folder (a copy of the template) unless it already is one. */
export async function ensureDataDir(dir: string, schema: FreshSchema = 'migrated'): Promise<void> {
  if (isInitialized(dir)) return;
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new Error(`DATA_DIR ${dir} is neither empty nor a PGlite data folder`);
  }
  mkdirSync(dir, { recursive: true });
  cpSync(await template(schema), dir, { recursive: true });
}

export interface ScratchDir {
  dataDir: string;
  remove(): void;
}

/**
 * A throwaway data folder for "in memory" mode, removed by `remove()`. A process that died without
 * removing its folder leaves an `owner` file with a dead pid: the next scratch folder removes it.
 */
export async function createScratchDir(schema: FreshSchema = 'migrated'): Promise<ScratchDir> {
  sweepOrphans();
  const root = mkdtempSync(join(tmpdir(), SCRATCH_PREFIX));
  writeFileSync(join(root, 'owner'), String(process.pid));
  const dataDir = join(root, 'pgdata');
  try {
    await ensureDataDir(dataDir, schema);
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  return { dataDir, remove: () => rmSync(root, { recursive: true, force: true }) };
}

function sweepOrphans(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(SCRATCH_PREFIX) || name.includes('template-')) continue;
    const root = join(tmpdir(), name);
    let pid: number;
    try {
      pid = Number(readFileSync(join(root, 'owner'), 'utf8'));
    } catch {
      continue; // being created right now, or not ours
    }
    if (!alive(pid)) rmSync(root, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
