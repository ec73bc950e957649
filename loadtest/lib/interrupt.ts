/**
 * Ctrl-C (SIGINT) and SIGTERM for the long benches. The first signal aborts `signal` (the steps
 * stop, their `finally` blocks stop the services and remove the throwaway databases) and sends
 * SIGTERM to every process this one started (from /proc, by pid); a second signal, or 20 s
 * without a clean end, runs the synchronous last-resort cleanups, SIGKILLs what is left and exits
 * 130. PostgreSQL is not our descendant (pg_ctl detaches it), hence the cleanups.
 */
import { descendants } from './proc.js';

export interface Interrupt {
  signal: AbortSignal;
  /** A synchronous cleanup for a forced exit (stop a PostgreSQL, delete its directory); returns its remover. */
  onForce(fn: () => void): () => void;
  /** Throws when interrupted: call it between steps. */
  check(): void;
  /** Remove the signal handlers. */
  dispose(): void;
}

export class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

function signalAll(signal: NodeJS.Signals): void {
  for (const pid of descendants()) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

export function handleInterrupts(log: (line: string) => void = (l) => console.error(l)): Interrupt {
  const ctl = new AbortController();
  const cleanups = new Set<() => void>();
  const forceExit = (): never => {
    for (const fn of cleanups) {
      try {
        fn();
      } catch {
        // best effort: the others must still run
      }
    }
    signalAll('SIGKILL');
    process.exit(130);
  };
  const onSignal = (sig: NodeJS.Signals) => {
    if (ctl.signal.aborted) {
      log(`${sig} again: stopping everything now`);
      forceExit();
    }
    log(`${sig}: stopping (services stopped, throwaway databases removed); ${sig} again to force`);
    ctl.abort(new Interrupted());
    signalAll('SIGTERM');
    setTimeout(forceExit, 20_000).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: ctl.signal,
    onForce(fn) {
      cleanups.add(fn);
      return () => void cleanups.delete(fn);
    },
    check() {
      if (ctl.signal.aborted) throw new Interrupted();
    },
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** For callers without signal handling (tests, single scenarios run from another script). */
export function noInterrupt(): Interrupt {
  return { signal: new AbortController().signal, onForce: () => () => undefined, check: () => undefined, dispose: () => undefined };
}
