/**
 * Keeps this instance in the instance registry (ports/instances.ts): announces its summary when it
 * starts listening and every `intervalMs` after, and withdraws it on graceful shutdown. The TTL
 * (the registry's) is a few intervals, so one late or lost announcement does not make a live
 * instance vanish, while a dead one is gone within the TTL.
 *
 * A registry that fails (Redis down) never affects the service: the failure is logged once per
 * outage, and the next round announces again.
 */
import type { Logger } from 'pino';
import type { InstanceRegistry, InstanceSummary } from '../../ports/instances.js';

/** Races a registry call against a timeout: the admin views and shutdown never wait on a dead Redis. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export interface Announcer {
  /** Announce now and every interval from then on (idempotent). */
  start(): void;
  /** Announce once at once (e.g. `draining: true` at the start of a shutdown); never rejects. */
  announceNow(): Promise<void>;
  /** Stop announcing and withdraw this instance; never rejects. */
  stop(): Promise<void>;
}

export function createAnnouncer(deps: {
  registry: InstanceRegistry;
  log: Logger;
  intervalMs: number;
  timeoutMs: number;
  summary: () => InstanceSummary;
}): Announcer {
  const { registry, intervalMs, timeoutMs } = deps;
  const log = deps.log.child({ component: 'announcer' });
  let timer: NodeJS.Timeout | null = null;
  let failing = false;
  let stopped = false;

  async function announceNow(): Promise<void> {
    try {
      await withTimeout(registry.announce(deps.summary()), timeoutMs, 'instance announcement');
      if (failing) log.info('instance registry reachable again');
      failing = false;
    } catch (err) {
      if (!failing) log.warn({ err: (err as Error).message }, 'instance announcement failed; retrying every interval');
      failing = true;
    }
  }

  return {
    start() {
      if (timer || stopped) return;
      void announceNow();
      timer = setInterval(() => void announceNow(), intervalMs);
      timer.unref();
    },
    announceNow,
    async stop() {
      stopped = true;
      if (!timer) return; // never announced (a worker does not listen): nothing to withdraw
      clearInterval(timer);
      timer = null;
      const id = deps.summary().instanceId;
      await withTimeout(registry.withdraw(id), timeoutMs, 'instance withdrawal').catch((err: unknown) =>
        log.warn({ err: (err as Error).message }, 'instance withdrawal failed; it expires with its TTL'),
      );
    },
  };
}
