/**
 * The faults, injected while writes flow, and what each one cost: how long until writes were
 * acknowledged again (the first one, and one for every writer), how long until both instances
 * answered /readyz again, and how many write attempts were retried meanwhile.
 *
 * One cycle, in this order: kill -9 one instance and start it again on its port; kill -9 Redis and
 * start it again on its port (the bus reconnects; the hubs fill what was published into the void
 * from the log); restart PostgreSQL (pg_ctl stop `fast`, or `immediate`: a crash, then recovery);
 * SIGTERM the other instance (graceful drain, sockets closed with 1012) and start it again. Which
 * instance gets which alternates per cycle.
 */
import type { Cluster } from './cluster.js';
import type { Workload } from './workload.js';

export const FAULT_KINDS = ['kill9-instance', 'kill9-redis', 'restart-postgres', 'sigterm-instance'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultResult {
  kind: FaultKind;
  /** What was hit: the instance name, `redis`, `postgres (fast|immediate)`. */
  target: string;
  cycle: number;
  /** ms from the fault (the component down) until it was running again (for an instance: ready). Every time below counts from the same moment. */
  backMs: number;
  /** ms from the fault to the first acknowledged write after it; null: none in time. */
  firstAckMs: number | null;
  /** ms from the fault until every writer had a write acknowledged; null: not in time. */
  allWritersMs: number | null;
  /** ms from the fault until both instances answered /readyz 200; null: not in time. */
  readyMs: number | null;
  /** Write attempts retried from the fault until the end of its settle time. */
  retries: number;
  /** What went wrong (an instance that did not come back ready, a drain that had to be forced…). */
  problems: string[];
}

export interface FaultOptions {
  /** How long the component stays down before it is started again. */
  downMs: number;
  /** After the recovery, writes flow this long before the next fault. */
  settleMs: number;
  /** How long to wait for recovery before calling it a problem. */
  recoverTimeoutMs: number;
  /** `pg_ctl stop -m` mode. */
  pgMode: 'fast' | 'immediate';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function injectFault(kind: FaultKind, cycle: number, cluster: Cluster, workload: Workload, o: FaultOptions): Promise<FaultResult> {
  const problems: string[] = [];
  const retriesBefore = workload.totals().retries;
  // Alternate: even cycles kill -9 the first instance and drain the second, odd cycles the reverse.
  const [killed, drained] = cycle % 2 === 0 ? cluster.instances : [cluster.instances[1], cluster.instances[0]];
  // Each fault is down (kill -9, SIGTERM and its drain, pg_ctl stop), then up again after downMs.
  // Times count from the moment it was down: the outage itself, not the time it took to cause it.
  let target: string;
  let down: () => Promise<void>;
  let up: () => Promise<void>;
  switch (kind) {
    case 'kill9-instance':
      target = killed.name;
      down = async () => void (await killed.kill('SIGKILL'));
      up = () => restartInstance(killed, problems);
      break;
    case 'kill9-redis':
      target = 'redis';
      down = () => cluster.redis.kill();
      up = () => cluster.redis.start();
      break;
    case 'restart-postgres':
      target = `postgres (${o.pgMode})`;
      down = () => cluster.pg.stopAsync(o.pgMode);
      up = () => cluster.pg.startAsync();
      break;
    case 'sigterm-instance':
      target = drained.name;
      down = async () => {
        if (await drained.kill('SIGTERM')) problems.push(`${drained.name}: SIGTERM drain did not end within 20 s (killed)`);
      };
      up = () => restartInstance(drained, problems);
      break;
  }
  await down();
  const probe = workload.probe();
  const t0 = Date.now();
  await sleep(o.downMs);
  await up();
  const backMs = Date.now() - t0;
  const [recovery, ready] = await Promise.all([
    probe.wait(o.recoverTimeoutMs),
    Promise.all(cluster.instances.map(async (i) => ((await i.waitReady(o.recoverTimeoutMs)) ? Date.now() - t0 : null))),
  ]);
  if (recovery.allWritersMs === null) problems.push(`not every writer had a write acknowledged within ${o.recoverTimeoutMs} ms of the fault`);
  cluster.instances.forEach((inst, i) => {
    if (ready[i] === null) problems.push(`${inst.name} not ready ${o.recoverTimeoutMs} ms after the ${kind} fault:\n${inst.output().slice(-2_000)}`);
  });
  const readyMs = ready.every((r) => r !== null) ? Math.max(...(ready as number[])) : null;
  await sleep(o.settleMs);
  return { kind, target, cycle, backMs, ...recovery, readyMs, retries: workload.totals().retries - retriesBefore, problems };
}

async function restartInstance(inst: Cluster['instances'][number], problems: string[]): Promise<void> {
  try {
    await inst.start();
  } catch (err) {
    problems.push(`${inst.name} did not come back ready: ${(err as Error).message.slice(0, 2_000)}`);
  }
}
