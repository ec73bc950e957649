/**
 * The verdict of a chaos run, once the writers stopped and the observers drained: the guarantee
 * ("every acknowledged change reaches every device exactly once, in order, or the device is told to
 * refetch"), checked from the client's side, plus what the service holds at the end.
 *
 * Every number under "must be 0" is a broken guarantee when it is not: a write refused or never
 * acknowledged, an acknowledgement with the wrong seq (a retry that changed twice, or a change
 * that emitted nothing), an event an app saw twice, out of order, or never, a RESYNC_REQUIRED (with
 * the log intact nothing may be evicted or reset), a device that gave up, a list that does not hold
 * exactly the acknowledged drafts, an instance not ready at the end.
 */
import { createRestClient, type ListResponse } from '../../client/src/rest.js';
import type { Draft } from '../../service/src/protocol/index.js';
import type { Cluster } from './cluster.js';
import type { FaultResult } from './faults.js';
import type { Workload } from './workload.js';

export interface Verdict {
  users: number;
  observers: number;
  writes: number;
  retries: number;
  /** Acknowledged from the Idempotency-Key record: an earlier attempt had committed. */
  replayed: number;
  deliveries: number;
  /** Socket opens beyond each observer's first: failovers and resumes. */
  reconnects: number;
  /** Second copies the Devices asked for with RESUME and dropped (expected; the app never sees them). */
  resent: number;
  /** Copies the Devices dropped that no RESUME explains (the app never sees them either). */
  wireDuplicates: number;
  mustBeZero: {
    failedWrites: number;
    unackedWrites: number;
    ackAnomalies: number;
    duplicates: number;
    outOfOrder: number;
    missing: number;
    /** Events beyond the last acknowledged seq: changes no writer was told about. */
    unacknowledgedEvents: number;
    resyncs: number;
    deviceErrors: number;
    listMismatches: number;
    instancesNotReady: number;
    faultProblems: number;
  };
  /** The first few findings, in words. */
  findings: string[];
  ok: boolean;
}

export async function verify(workload: Workload, cluster: Cluster, faults: readonly FaultResult[]): Promise<Verdict> {
  const findings: string[] = [];
  const note = (s: string) => {
    if (findings.length < 30) findings.push(s);
  };
  const head = new Map(workload.writers.map((w) => [w.userId, w.lastSeq]));

  let failedWrites = 0;
  let unackedWrites = 0;
  let ackAnomalies = 0;
  for (const w of workload.writers) {
    failedWrites += w.failures.length;
    unackedWrites += w.unacked;
    ackAnomalies += w.ackAnomalies.length;
    for (const f of w.failures) note(`${w.userId}: write refused: ${f}`);
    for (const a of w.ackAnomalies) note(`${w.userId}: ${a}`);
    if (w.unacked > 0) note(`${w.userId}: ${w.unacked} write(s) never acknowledged`);
  }

  let duplicates = 0;
  let outOfOrder = 0;
  let missing = 0;
  let beyond = 0;
  let resyncs = 0;
  let deviceErrors = 0;
  for (const o of workload.observers) {
    const last = head.get(o.userId) ?? 0;
    const m = o.skipped + Math.max(0, last - o.last);
    duplicates += o.duplicates;
    outOfOrder += o.outOfOrder;
    missing += m;
    beyond += Math.max(0, o.last - last);
    resyncs += o.resyncs.length;
    deviceErrors += o.errors.length;
    if (o.duplicates || o.outOfOrder || m || o.last > last) {
      note(`${o.deviceId} (${o.userId}): saw up to ${o.last} of ${last}; duplicates ${o.duplicates}, out of order ${o.outOfOrder}, missing ${m}`);
    }
    for (const r of o.resyncs) note(`${o.deviceId}: RESYNC_REQUIRED ${r}`);
    for (const e of o.errors) note(`${o.deviceId}: ${e}`);
  }

  // What the service holds: exactly the acknowledged drafts, and the log head at the last acknowledged seq.
  let listMismatches = 0;
  for (const w of workload.writers) {
    const rest = createRestClient({ url: cluster.urls, getToken: () => w.token, timeoutMs: 10_000 });
    try {
      const list = await rest.request<ListResponse<Draft>>({ method: 'GET', path: '/api/drafts' });
      if (list.body.items.length !== w.created || list.body.seq !== w.lastSeq) {
        listMismatches += 1;
        note(`${w.userId}: GET /api/drafts lists ${list.body.items.length} drafts at seq ${list.body.seq}; acknowledged ${w.created} creates, last seq ${w.lastSeq}`);
      }
    } catch (err) {
      listMismatches += 1;
      note(`${w.userId}: GET /api/drafts failed: ${(err as Error).message}`);
    }
  }

  let instancesNotReady = 0;
  for (const i of cluster.instances) {
    if (!(await i.waitReady(10_000))) {
      instancesNotReady += 1;
      note(`${i.name} not ready at the end:\n${i.output().slice(-2_000)}`);
    }
  }

  const faultProblems = faults.reduce((n, f) => n + f.problems.length, 0);
  for (const f of faults) for (const p of f.problems) note(`cycle ${f.cycle} ${f.kind}: ${p}`);

  const totals = workload.totals();
  const connections = workload.observers.reduce((n, o) => n + o.connections, 0);
  const mustBeZero = {
    failedWrites,
    unackedWrites,
    ackAnomalies,
    duplicates,
    outOfOrder,
    missing,
    unacknowledgedEvents: beyond,
    resyncs,
    deviceErrors,
    listMismatches,
    instancesNotReady,
    faultProblems,
  };
  return {
    users: workload.writers.length,
    observers: workload.observers.length,
    writes: totals.writes,
    retries: totals.retries,
    replayed: totals.replayed,
    deliveries: totals.deliveries,
    reconnects: connections - workload.observers.length,
    resent: workload.observers.reduce((n, o) => n + o.resent, 0),
    wireDuplicates: workload.observers.reduce((n, o) => n + o.wireDuplicates, 0),
    mustBeZero,
    findings,
    ok: Object.values(mustBeZero).every((v) => v === 0),
  };
}
