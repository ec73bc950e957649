/**
 * The one polling loop of rtctl (`stats --watch`, `top`, the latency screen): call `load`, then
 * again `intervalMs` after it settled, so two loads never overlap and a slow server slows the loop
 * instead of piling up requests. The Ink views use it through hooks/use-poll.ts; plain output
 * through `pollLines`.
 */
import type { Context } from './context.js';
import { ExitCode, usageError } from './errors.js';

export type PollResult<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Start polling; returns stop(). `immediate: false` waits one interval before the first load. */
export function pollEvery<T>(
  load: () => Promise<T>,
  intervalMs: number,
  onResult: (r: PollResult<T>) => void,
  opts: { immediate?: boolean } = {},
): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async () => {
    let r: PollResult<T>;
    try {
      r = { ok: true, value: await load() };
    } catch (error) {
      r = { ok: false, error };
    }
    if (stopped) return;
    onResult(r);
    if (!stopped) timer = setTimeout(() => void tick(), intervalMs);
  };
  if (opts.immediate === false) timer = setTimeout(() => void tick(), intervalMs);
  else void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/**
 * Plain output of a polled view: `print` each value, stop at the first error (it rejects), after
 * `count` values, or on Ctrl-C (exit 0). `first` is a value already loaded (printed at once).
 */
export function pollLines<T>(
  ctx: Context,
  load: () => Promise<T>,
  opts: { intervalMs: number; print: (value: T) => void; count?: number; first?: T },
): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const done = (stop: () => void, code: number) => {
      stop();
      resolve(code);
    };
    const onValue = (value: T): boolean => {
      opts.print(value);
      n += 1;
      return opts.count !== undefined && n >= opts.count;
    };
    if (opts.first !== undefined && onValue(opts.first)) return resolve(ExitCode.OK);
    const stop = pollEvery(
      load,
      opts.intervalMs,
      (r) => {
        if (!r.ok) {
          stop();
          reject(r.error instanceof Error ? r.error : new Error(String(r.error)));
        } else if (onValue(r.value)) done(stop, ExitCode.OK);
      },
      { immediate: opts.first === undefined },
    );
    ctx.onInterrupt(() => done(stop, ExitCode.OK));
  });
}

/** `--interval`: milliseconds (at least 100) or e.g. `2s`. */
export function parseInterval(value: string | undefined, def: number): number {
  if (value === undefined) return def;
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(value.trim());
  const n = m ? Number(m[1]) * (m[2] === 's' ? 1000 : 1) : NaN;
  if (!Number.isFinite(n) || n < 100) throw usageError(`Invalid --interval '${value}': milliseconds, at least 100 (or e.g. 2s)`);
  return n;
}
