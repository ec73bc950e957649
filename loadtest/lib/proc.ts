/** Process figures from /proc (Linux): resident memory and CPU time of a child we started. */
import { readFileSync } from 'node:fs';
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
