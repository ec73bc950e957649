/**
 * Pure helpers of cluster-scale.ts: which instances a device tries in turn, what the client workers
 * report (cluster-worker.ts) merged over the workers, and deltas between two samples.
 */
import type { RedisSample } from './cluster.js';
import { round } from './stats.js';

export type Status = { open: number; down: number; perInstance: number[]; closesByCode: Record<string, number>; failuresByCause: Record<string, number>; connectFailures: number; reconnects: number; stopped: number; resyncs: number; gaps: number; gapEvents: number; duplicates: number; lastBackAt: number };
export type Verify = { atExpected: number; missing: number; ahead: number; devices: number };

export function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

export function mergeStatus(ss: Status[]): Status {
  const out: Status = { ...ss[0]!, perInstance: ss[0]!.perInstance.map(() => 0), closesByCode: {}, failuresByCause: {}, lastBackAt: 0 };
  for (const k of ['open', 'down', 'connectFailures', 'reconnects', 'stopped', 'resyncs', 'gaps', 'gapEvents', 'duplicates'] as const) out[k] = sum(ss.map((s) => s[k]));
  for (const s of ss) {
    s.perInstance.forEach((v, i) => (out.perInstance[i]! += v));
    for (const [c, v] of Object.entries(s.closesByCode)) out.closesByCode[c] = (out.closesByCode[c] ?? 0) + v;
    for (const [c, v] of Object.entries(s.failuresByCause)) out.failuresByCause[c] = (out.failuresByCause[c] ?? 0) + v;
    out.lastBackAt = Math.max(out.lastBackAt, s.lastBackAt);
  }
  return out;
}

export function delta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k] ?? 0)]).filter(([, v]) => v !== 0));
}

export function redisDelta(a: RedisSample, b: RedisSample, writes: number) {
  const callsPerWrite: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.calls)) {
    const d = v - (a.calls[k] ?? 0);
    if (d > 0 && k !== 'info') callsPerWrite[k] = round(d / Math.max(1, writes), 3);
  }
  return { callsPerWrite, pubsubChannels: b.pubsubChannels, clients: b.connectedClients };
}


/**
 * The instances device i tries in turn (indices): first i mod n, then the others rotated by
 * floor(i / n), so the devices of any one instance fall back evenly over all the others (a plain
 * "next one" would send them all to its neighbour, over that one's descriptor limit).
 */
export function deviceInstanceOrder(i: number, n: number): number[] {
  const primary = i % n;
  const others = Array.from({ length: n }, (_, j) => j).filter((j) => j !== primary);
  const r = others.length ? Math.floor(i / n) % others.length : 0;
  return [primary, ...others.slice(r), ...others.slice(0, r)];
}
