/**
 * A V8 .cpuprofile (what `node --cpu-prof` writes) summarized: self time per function and per
 * package (node_modules/<name>, node: internals, the service's own files, GC, idle), as a share of
 * the profiled time. Idle is the event loop waiting; everything else is CPU the process spent.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a frame's code lives: a package, Node itself, the service, or V8's own pseudo-frames. */
export function packageOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const src = url.indexOf('/service/src/');
  if (src >= 0) {
    const dir = url.slice(src + '/service/src/'.length).split('/').slice(0, -1).join('/');
    return dir ? `service/${dir}` : 'service';
  }
  return url.replace(/^file:\/\//, '');
}

export interface ProfileSummary {
  totalMs: number;
  busyMs: number;
  functions: { name: string; where: string; selfMs: number }[];
  packages: { name: string; selfMs: number }[];
}

export function summarize(profile: CpuProfile): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  const fns = new Map<string, { name: string; where: string; selfMs: number }>();
  const pkgs = new Map<string, number>();
  let idle = 0;
  let total = 0;
  for (const [id, ms] of self) {
    const { callFrame: f } = byId.get(id)!;
    total += ms;
    if (f.functionName === '(idle)') idle += ms;
    const where = f.url ? `${f.url.replace(/^.*\/(node_modules|service\/src|client\/src)\//, '$1/')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName}@${where}`;
    const fn = fns.get(key) ?? { name: f.functionName || '(anonymous)', where, selfMs: 0 };
    fn.selfMs += ms;
    fns.set(key, fn);
    const pkg = packageOf(f.url, f.functionName);
    pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + ms);
  }
  return {
    totalMs: total,
    busyMs: total - idle,
    functions: [...fns.values()].sort((a, b) => b.selfMs - a.selfMs),
    packages: [...pkgs].map(([name, selfMs]) => ({ name, selfMs })).sort((a, b) => b.selfMs - a.selfMs),
  };
}

export function summarizeProfile(file: string, top = 40): string {
  const s = summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
  const pct = (ms: number) => `${((100 * ms) / s.busyMs).toFixed(1).padStart(5)} %`;
  const lines = [`profiled ${(s.totalMs / 1000).toFixed(1)} s, busy (not idle) ${(s.busyMs / 1000).toFixed(1)} s; shares of busy time:`, '', 'by package:'];
  for (const p of s.packages.filter((p) => p.name !== '(idle)').slice(0, 20)) lines.push(`  ${pct(p.selfMs)}  ${p.name}`);
  lines.push('', 'by function (self time):');
  for (const f of s.functions.filter((f) => f.name !== '(idle)').slice(0, top)) lines.push(`  ${pct(f.selfMs)}  ${f.name}  ${f.where}`);
  return lines.join('\n');
}
