/** Process figures from /proc (Linux): resident memory and CPU time of a child we started. */
import { readdirSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** VmRSS in KiB, or null when /proc is not readable (not Linux, process gone). */
export function rssKb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** User + system CPU time in seconds (fields 14 and 15 of /proc/<pid>/stat, in clock ticks of 1/100 s). */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces: count fields after its closing parenthesis.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return (utime + stime) / 100;
  } catch {
    return null;
  }
}

/** The soft limit on open files of this process ("Max open files" in /proc/self/limits). */
export function openFilesLimit(pid: number | 'self' = 'self'): number | null {
  try {
    const m = /Max open files\s+(\d+)\s+(\d+|unlimited)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** VmRSS once two samples 500 ms apart differ by less than 1 % (at most 15 s): start-up peaks settle first. */
export async function settledRss(pid: number): Promise<number | null> {
  let prev = rssKb(pid);
  for (let i = 0; i < 30; i += 1) {
    await new Promise((r) => setTimeout(r, 500));
    const cur = rssKb(pid);
    if (cur === null || prev === null) return cur;
    if (Math.abs(cur - prev) < prev * 0.01) return cur;
    prev = cur;
  }
  return prev;
}

/** NODE_OPTIONS for a server under test: lets `gcMemory` trigger a full GC in it (see gc-preload.mjs). */
export const GC_NODE_OPTIONS = `--expose-gc --import=${fileURLToPath(new URL('./gc-preload.mjs', import.meta.url))}`;

/** Env for a server under test: GC on SIGUSR2 and its memoryUsage() written to a fresh temp file. */
export function gcEnv(): Record<string, string> {
  return { NODE_OPTIONS: GC_NODE_OPTIONS, LOADTEST_MEMORY_FILE: join(tmpdir(), `loadtest-mem-${randomUUID()}.json`) };
}

export interface MemorySample {
  /** VmRSS, KiB. */
  rssKb: number | null;
  /** V8 heap used + external (array buffers included) after a full GC, KiB (null if the target did not answer). */
  liveKb: number | null;
}

/** Full GC in the target (started with gcEnv()), then its settled VmRSS and live JS memory. */
export async function gcMemory(pid: number, memoryFile: string | undefined): Promise<MemorySample> {
  let liveKb: number | null = null;
  for (let i = 0; i < 2; i += 1) {
    try {
      process.kill(pid, 'SIGUSR2');
    } catch {
      return { rssKb: null, liveKb: null };
    }
    await new Promise((r) => setTimeout(r, 500 * (i + 1)));
  }
  if (memoryFile) {
    try {
      const m = JSON.parse(readFileSync(memoryFile, 'utf8')) as { heapUsed: number; external: number };
      liveKb = Math.round((m.heapUsed + m.external) / 1024);
    } catch {
      liveKb = null;
    }
  }
  return { rssKb: await settledRss(pid), liveKb };
}

/** utime + stime and cutime + cstime (fields 14–17 of /proc/<pid>/stat) in seconds, and the parent pid. */
function statOf(pid: number): { ppid: number; own: number; children: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const n = (i: number) => Number(rest[i]) / 100;
    return { ppid: Number(rest[1]), own: n(11) + n(12), children: n(13) + n(14) };
  } catch {
    return null;
  }
}

type ProcessTable = Map<number, { ppid: number; own: number; children: number }>;

function processTable(): ProcessTable {
  const table: ProcessTable = new Map();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const s = statOf(pid);
    if (s) table.set(pid, s);
  }
  return table;
}

function subtree(table: ProcessTable, rootPid: number): number[] {
  const byParent = new Map<number, number[]>();
  for (const [pid, s] of table) byParent.set(s.ppid, [...(byParent.get(s.ppid) ?? []), pid]);
  const out: number[] = [];
  const visit = (pid: number) => {
    for (const c of byParent.get(pid) ?? []) {
      out.push(c);
      visit(c);
    }
  };
  visit(rootPid);
  return out;
}

/**
 * CPU seconds of a process tree: every live process under `rootPid` (itself included), each with
 * the CPU of its children that already exited (cutime/cstime, which the kernel adds to a parent
 * when it reaps a child). So a PostgreSQL backend that ends during a phase is still counted, by its
 * postmaster. Threads (a worker thread's PGlite) are in their process's figures. Null when the root is gone.
 */
export function treeCpuSeconds(rootPid: number): number | null {
  const table = processTable();
  const root = table.get(rootPid);
  if (!root) return null;
  return [rootPid, ...subtree(table, rootPid)].reduce((sum, pid) => sum + table.get(pid)!.own + table.get(pid)!.children, 0);
}

/** The postmaster's pid: the first line of `<dataDir>/postmaster.pid` (null when not running). */
export function postmasterPid(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(`${dataDir}/postmaster.pid`, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Every live descendant of `rootPid` (parents before their children), from /proc. */
export function descendants(rootPid = process.pid): number[] {
  return subtree(processTable(), rootPid);
}
