/** The chaos run's figures as text: what the test prints and what the soak ends with. */
import type { Verdict } from './checker.js';
import { FAULT_KINDS, type FaultResult } from './faults.js';

export interface FaultSummary {
  kind: string;
  count: number;
  retries: number;
  firstAckMs: { p50: number | null; max: number | null };
  allWritersMs: { p50: number | null; max: number | null };
  readyMs: { p50: number | null; max: number | null };
  /** Faults after which writes or readiness did not come back in time (counted as a problem too). */
  unrecovered: number;
}

function quantiles(xs: (number | null)[]): { p50: number | null; max: number | null } {
  const v = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (v.length === 0) return { p50: null, max: null };
  return { p50: v[Math.floor((v.length - 1) / 2)]!, max: v[v.length - 1]! };
}

export function summarizeFaults(faults: readonly FaultResult[]): FaultSummary[] {
  return FAULT_KINDS.map((kind) => {
    const fs = faults.filter((f) => f.kind === kind);
    return {
      kind,
      count: fs.length,
      retries: fs.reduce((n, f) => n + f.retries, 0),
      firstAckMs: quantiles(fs.map((f) => f.firstAckMs)),
      allWritersMs: quantiles(fs.map((f) => f.allWritersMs)),
      readyMs: quantiles(fs.map((f) => f.readyMs)),
      unrecovered: fs.filter((f) => f.allWritersMs === null || f.readyMs === null).length,
    };
  }).filter((s) => s.count > 0);
}

const ms = (q: { p50: number | null; max: number | null }) => `p50 ${q.p50 ?? '-'} ms / max ${q.max ?? '-'} ms`;

export function faultLine(f: FaultResult): string {
  const v = (x: number | null) => (x === null ? 'never' : `${x} ms`);
  return (
    `cycle ${f.cycle} ${f.kind} ${f.target}: back ${f.backMs} ms, first ack ${v(f.firstAckMs)}, every writer ${v(f.allWritersMs)}, ` +
    `both ready ${v(f.readyMs)}, retries ${f.retries}${f.problems.length ? `, PROBLEMS ${f.problems.length}` : ''}`
  );
}

export function formatReport(v: Verdict, faults: readonly FaultResult[], elapsedMs: number): string {
  const lines = [
    `chaos: ${v.ok ? 'PASS' : 'FAIL'} in ${(elapsedMs / 1000).toFixed(1)} s: ${v.users} users, ${v.observers} observers, ${faults.length} faults`,
    `  writes acknowledged ${v.writes}, attempts retried ${v.retries}, answered from the idempotency record ${v.replayed}`,
    `  events delivered to observers ${v.deliveries}, observer reconnects ${v.reconnects}, resent copies dropped by the Device ${v.resent}, unexplained copies dropped by the Device ${v.wireDuplicates}`,
    `  must be 0: ${Object.entries(v.mustBeZero)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}`,
    '  time to recover (from the fault to the first acknowledged write / to one for every writer / to both instances ready):',
    ...summarizeFaults(faults).map(
      (s) =>
        `    ${s.kind.padEnd(17)} x${s.count}: first ack ${ms(s.firstAckMs)}; every writer ${ms(s.allWritersMs)}; ready ${ms(s.readyMs)}; retries ${s.retries}`,
    ),
  ];
  if (v.findings.length) lines.push('  findings:', ...v.findings.map((f) => `    - ${f.replace(/\n/g, '\n      ')}`));
  return lines.join('\n');
}
