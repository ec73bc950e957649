/**
 * A throwaway Redis Cluster: three masters, no replicas unless asked, from Debian's redis-server, on free ports
 * on 127.0.0.1, no persistence, state in a temporary directory. One node can be killed (-9) and
 * restarted on the same ports with the same nodes.conf, so it rejoins owning the same slots.
 *
 * Settings chosen for tests: `cluster-node-timeout` is short so a dead master is noticed in about a
 * second, and `cluster-require-full-coverage no` keeps the other shards serving while one is down
 * (a real deployment has replicas instead; here the outage of one shard is the point).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, waitForPort } from './free-port.js';
import { redisServerBinary } from './redis-server.js';

const run = promisify(execFile);

export interface RedisClusterNode {
  host: string;
  port: number;
}

export interface RedisCluster {
  nodes: RedisClusterNode[];
  /** The REDIS_CLUSTER_NODES value: `127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`. */
  nodesEnv: string;
  /** Index (into `nodes`) of the master that owns the slot of `key` (a key or a shard channel); nodes that are down are skipped. */
  ownerOf(key: string): Promise<number>;
  /** Kill -9 one node: its shard's data and subscriptions are gone until restart(). */
  kill(node: number): Promise<void>;
  /** Start a killed node again (same ports, same nodes.conf) and wait until the cluster is whole. */
  restart(node: number): Promise<void>;
  /** Kill every node (the whole cluster is down) / start them all again. */
  killAll(): Promise<void>;
  restartAll(): Promise<void>;
  /** Wait until every node says `cluster_state:ok`, none is flagged failed and every replica has synced. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /**
   * Reshard one slot to another master (CLUSTER SETSLOT IMPORTING / MIGRATING / NODE, as
   * `redis-cli --cluster reshard` does; pub/sub holds no keys, so nothing is migrated).
   */
  moveSlot(slot: number, to: number): Promise<void>;
  stop(): Promise<void>;
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 10_000 });
  return stdout;
}

/** `replicas`: per master; a master killed then fails over to one of its replicas after about a second. */
export async function startRedisCluster(opts: { masters?: number; replicas?: number } = {}): Promise<RedisCluster> {
  const bin = redisServerBinary();
  if (!bin) throw new Error('redis-server not found (Debian package redis-server; .ci/run installs it)');
  const replicas = opts.replicas ?? 0;
  const count = (opts.masters ?? 3) * (1 + replicas);
  const dir = mkdtempSync(join(tmpdir(), 'rt-redis-cluster-'));
  // The cluster bus port is port + 10000 by default, which can fall outside 65535 for a kernel-chosen
  // port: give each node its own free bus port instead (cluster-port, Redis 7).
  const ports: { port: number; busPort: number }[] = [];
  // Distinct: the kernel may hand the same free port out twice in a row.
  const taken = new Set<number>();
  const distinctFreePort = async () => {
    for (;;) {
      const p = await freePort();
      if (!taken.has(p)) return taken.add(p), p;
    }
  };
  for (let i = 0; i < count; i += 1) ports.push({ port: await distinctFreePort(), busPort: await distinctFreePort() });
  const procs: (ChildProcess | null)[] = ports.map(() => null);

  const startNode = async (i: number) => {
    const { port, busPort } = ports[i]!;
    // prettier-ignore
    const args = [
      '--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'yes',
      '--cluster-enabled', 'yes', '--cluster-port', String(busPort),
      '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir,
      '--cluster-node-timeout', '1000', '--cluster-require-full-coverage', 'no',
      '--save', '', '--appendonly', 'no',
      // A replica's first sync starts at once (the default waits 5 s for more replicas to join it):
      // a replica that never synced refuses to fail over.
      '--repl-diskless-sync-delay', '0',
    ];
    procs[i] = spawn(bin, args, { stdio: 'ignore' });
    await waitForPort(port, `redis-server (cluster node ${i})`);
  };

  const kill = async (i: number) => {
    const p = procs[i];
    procs[i] = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  };

  const waitHealthy = async (timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      try {
        const states = await Promise.all(
          ports.map(async ({ port }) => {
            const info = await cli(port, 'cluster', 'info');
            const nodes = await cli(port, 'cluster', 'nodes');
            // A replica counts once it has synced with its master (it could not take over before).
            const replication = await cli(port, 'info', 'replication');
            const synced = !/role:slave/.test(replication) || /master_link_status:up/.test(replication);
            const problems = [
              /cluster_state:ok/.test(info) ? '' : 'state',
              /\bfail\??\b/.test(nodes) ? 'fail-flag' : '',
              (nodes.match(/\bconnected\b/g) ?? []).length === count ? '' : `links ${(nodes.match(/\bconnected\b/g) ?? []).length}/${count}`,
              synced ? '' : 'unsynced',
            ].filter(Boolean);
            return problems.length ? `:${port} ${problems.join('+')}` : '';
          }),
        );
        if (states.every((p) => p === '')) return;
        last = states.filter(Boolean).join(', ');
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`redis cluster not healthy after ${timeoutMs} ms (${last})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const stop = async () => {
    await Promise.all(ports.map((_, i) => kill(i)));
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await Promise.all(ports.map((_, i) => startNode(i)));
    await run('redis-cli', ['--cluster', 'create', ...ports.map(({ port }) => `127.0.0.1:${port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    await waitHealthy();
  } catch (err) {
    await stop();
    throw err;
  }

  const nodes = ports.map(({ port }) => ({ host: '127.0.0.1', port }));
  return {
    nodes,
    nodesEnv: nodes.map((n) => `${n.host}:${n.port}`).join(','),
    async ownerOf(key) {
      const live = ports.map((_, i) => i).filter((i) => procs[i] !== null);
      const slot = Number((await cli(ports[live[0]!]!.port, 'cluster', 'keyslot', key)).trim());
      for (const i of live) {
        // `cluster nodes` on a node: its own line carries `myself` and its slot ranges.
        const mine = (await cli(ports[i]!.port, 'cluster', 'nodes')).split('\n').find((l) => l.includes('myself'));
        const ranges = (mine ?? '').split(' ').slice(8);
        for (const r of ranges) {
          const [a, b = a] = r.split('-').map(Number);
          if (slot >= a! && slot <= b!) return i;
        }
      }
      throw new Error(`no node owns slot ${slot} of ${key}`);
    },
    kill,
    async restart(i) {
      await startNode(i);
      await waitHealthy();
    },
    async killAll() {
      await Promise.all(ports.map((_, i) => kill(i)));
    },
    async restartAll() {
      await Promise.all(ports.map((_, i) => startNode(i)));
      await waitHealthy();
    },
    waitHealthy,
    async moveSlot(slot, to) {
      const ids = await Promise.all(ports.map(async ({ port }) => (await cli(port, 'cluster', 'myid')).trim()));
      let from = -1;
      for (let i = 0; i < ports.length && from < 0; i += 1) {
        const mine = (await cli(ports[i]!.port, 'cluster', 'nodes')).split('\n').find((l) => l.includes('myself')) ?? '';
        for (const r of mine.split(' ').slice(8)) {
          const [a, b = a] = r.split('-').map(Number);
          if (slot >= a! && slot <= b!) from = i;
        }
      }
      if (from < 0) throw new Error(`no node owns slot ${slot}`);
      if (from === to) return;
      const setslot = async (i: number, ...args: string[]) => {
        const out = (await cli(ports[i]!.port, 'cluster', 'setslot', String(slot), ...args)).trim();
        if (out !== 'OK') throw new Error(`CLUSTER SETSLOT ${slot} ${args.join(' ')} on node ${i}: ${out}`);
      };
      await setslot(to, 'importing', ids[from]!);
      await setslot(from, 'migrating', ids[to]!);
      // The new owner first, then the old one, then the rest (the order redis-cli uses).
      for (const i of [to, from, ...ports.keys()].filter((i, k, all) => all.indexOf(i) === k)) await setslot(i, 'node', ids[to]!);
      await waitHealthy();
    },
    stop,
  };
}
