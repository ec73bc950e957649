/** Poll `load` every `intervalMs` while the component is mounted (pollEvery underneath). */
import { useEffect, useState } from 'react';
import { pollEvery } from '../poll.js';

export interface Polled<T> {
  value: T | null;
  /** The last load's error message; cleared by the next success. */
  error: string | null;
  updatedAt: Date | null;
}

export function usePoll<T>(load: () => Promise<T>, intervalMs: number, initial: T | null = null): Polled<T> {
  const [state, setState] = useState<Polled<T>>({ value: initial, error: null, updatedAt: null });
  useEffect(
    () =>
      pollEvery(load, intervalMs, (r) =>
        setState((prev) =>
          r.ok
            ? { value: r.value, error: null, updatedAt: new Date() }
            : { ...prev, error: r.error instanceof Error ? r.error.message : String(r.error) },
        ),
      ),
    [load, intervalMs],
  );
  return state;
}
