/**
 * Where the PGlite worker keeps its files. Always a folder on disk, also in "memory" mode: PGlite's
 * in-memory file system (MEMFS) keeps every file in one typed array that it reallocates and copies
 * as the file grows (by 1/8 past 1 MB), which stalls for tens to hundreds of ms under a stream of
 * writes and holds the whole database in the process's RSS. On disk the OS page cache holds it.
 *
 * A fresh folder is a copy of an initialized template (initdb once per PGlite version and machine,
 * in a child process, ~5 s), so a start costs a copy of ~40 MB instead of an initdb.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { processArgs, workerScriptUrl } from './sql-pglite-launch.js';

const SCRATCH_PREFIX = 'archibald-pglite-';

function pgliteVersion(): string {
  const require = createRequire(import.meta.url);
  const main = require.resolve('@electric-sql/pglite'); // <pkg>/dist/index.cjs
  const pkg = JSON.parse(readFileSync(join(dirname(main), '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

const isInitialized = (dir: string) => existsSync(join(dir, 'PG_VERSION'));

function runInitdb(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, processArgs(workerScriptUrl(), ['--initdb', dir]), {
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

/** The initialized template folder for this PGlite version, created on first use. */
async function template(): Promise<string> {
  const dir = join(tmpdir(), `${SCRATCH_PREFIX}template-${pgliteVersion()}`);
  if (isInitialized(dir)) return dir;
  const building = mkdtempSync(`${dir}.building-`);
  try {
    await runInitdb(building);
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
export async function ensureDataDir(dir: string): Promise<void> {
  if (isInitialized(dir)) return;
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new Error(`DATA_DIR ${dir} is neither empty nor a PGlite data folder`);
  }
  mkdirSync(dir, { recursive: true });
  cpSync(await template(), dir, { recursive: true });
}

export interface ScratchDir {
  dataDir: string;
  remove(): void;
}

/**
 * A throwaway data folder for "in memory" mode, removed by `remove()`. A process that died without
 * removing its folder leaves an `owner` file with a dead pid: the next scratch folder removes it.
 */
export async function createScratchDir(): Promise<ScratchDir> {
  sweepOrphans();
  const root = mkdtempSync(join(tmpdir(), SCRATCH_PREFIX));
  writeFileSync(join(root, 'owner'), String(process.pid));
  const dataDir = join(root, 'pgdata');
  try {
    await ensureDataDir(dataDir);
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
