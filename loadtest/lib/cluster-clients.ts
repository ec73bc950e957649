/**
 * The parent's side of the client workers (cluster-worker.ts): W child processes, each with whole
 * users (every device of a user in one worker) and its own loopback source addresses
 * 127.0.<10+w>.1…, so no two workers share a source address and no address runs out of ephemeral
 * ports (one bound socket per port per address: ~28,000 in 32768–60999). Requests over IPC, each
 * answered once, with a timeout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from '../../tools/paths.js';
import { cpuSeconds } from './proc.js';

const WORKER = fileURLToPath(new URL('./cluster-worker.ts', import.meta.url));

export interface WorkerSlice {
  userFrom: number;
  userTo: number;
  deviceFrom: number;
  deviceTo: number;
  addrs: string[];
}

export interface ClientWorkers {
  slices: WorkerSlice[];
  /** Every worker has loaded its code. */
  ready: Promise<void>;
  /** Send `cmd` to every worker and wait for all answers. */
  all<T>(cmd: string, extra?: (w: number, s: WorkerSlice) => Record<string, unknown>, timeoutMs?: number): Promise<T[]>;
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** Users split evenly over the workers; device i belongs to user floor(i / perUser). */
export function sliceUsers(devices: number, perUser: number, workers: number): WorkerSlice[] {
  const users = Math.ceil(devices / perUser);
  const out: WorkerSlice[] = [];
  for (let w = 0; w < workers; w += 1) {
    const userFrom = Math.floor((users * w) / workers);
    const userTo = Math.floor((users * (w + 1)) / workers);
    const deviceFrom = userFrom * perUser;
    const deviceTo = Math.min(devices, userTo * perUser);
    // Sockets per address at most ~12,000 (half the ephemeral range, margin for reconnects).
    const nAddrs = Math.max(2, Math.ceil((deviceTo - deviceFrom) / 12_000));
    out.push({ userFrom, userTo, deviceFrom, deviceTo, addrs: Array.from({ length: nAddrs }, (_, j) => `127.0.${10 + w}.${j + 1}`) });
  }
  return out;
}

export function startClientWorkers(o: {
  devices: number;
  perUser: number;
  workers: number;
  urls: string[];
  instanceIds: string[];
  runId: string;
  secret: string;
  maxMs: number;
}): ClientWorkers {
  const slices = sliceUsers(o.devices, o.perUser, o.workers);
  const children: ChildProcess[] = slices.map((s) =>
    spawn(process.execPath, ['--import', 'tsx', WORKER], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        DEVICES_PER_USER: String(o.perUser),
        USER_FROM: String(s.userFrom),
        DEVICE_TO: String(s.deviceTo),
        URLS: o.urls.join(','),
        INSTANCE_IDS: o.instanceIds.join(','),
        ADDRS: s.addrs.join(','),
        RUN_ID: o.runId,
        SECRET: o.secret,
        MAX_MS: String(o.maxMs),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  const ready = Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve, reject) => {
          const onExit = (code: number | null) => reject(new Error(`client worker ${c.pid} exited (${code}) at start-up`));
          c.once('exit', onExit);
          c.once('message', () => {
            c.off('exit', onExit);
            resolve();
          });
        }),
    ),
  ).then(() => undefined);
  ready.catch(() => undefined);
  // A send to a worker that is already gone (SIGTERMed by an interrupt) is an 'error' event: without
  // a listener it would crash this process before it stopped the instances.
  for (const c of children) c.on('error', () => undefined);
  let nextId = 1;
  const ask = <T>(child: ChildProcess, msg: Record<string, unknown>, timeoutMs: number): Promise<T> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const t = setTimeout(() => {
        cleanup();
        reject(new Error(`client worker ${child.pid}: no answer to ${String(msg.cmd)} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onMessage = (m: { id: number }) => {
        if (m.id !== id) return;
        cleanup();
        resolve(m as T);
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`client worker ${child.pid} exited (${code}) during ${String(msg.cmd)}`));
      };
      const cleanup = () => {
        clearTimeout(t);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send({ id, ...msg }, (err) => {
        if (!err) return;
        cleanup();
        reject(err);
      });
    });
  return {
    slices,
    ready,
    // Generous: on a machine shared with other work a worker holding 15,000 sockets can lag by tens of seconds.
    all: <T>(cmd: string, extra?: (w: number, s: WorkerSlice) => Record<string, unknown>, timeoutMs = 300_000) =>
      Promise.all(children.map((c, w) => ask<T>(c, { cmd, ...(extra ? extra(w, slices[w]!) : {}) }, timeoutMs))),
    cpuSeconds: () => children.reduce((sum, c) => sum + (c.pid ? (cpuSeconds(c.pid) ?? 0) : 0), 0),
    async stop() {
      await Promise.all(
        children.map(async (c) => {
          if (c.exitCode !== null || c.signalCode !== null) return;
          const exited = new Promise((r) => c.once('exit', r));
          const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
          if (c.connected) ask(c, { cmd: 'close' }, 10_000).catch(() => c.kill('SIGKILL'));
          else c.kill('SIGTERM');
          await exited;
          clearTimeout(t);
        }),
      );
    },
  };
}
