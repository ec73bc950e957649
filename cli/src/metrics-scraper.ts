/**
 * Scrapes /metrics of several instances and keeps each one's recent history (for rates and
 * sparklines). No timer here: `rtctl top` drives it with the one polling loop (poll.ts).
 */
import { createApi } from './api.js';
import { CliError } from './errors.js';
import { parsePrometheusText } from './prometheus.js';
import { computeInstanceView, HISTORY_POINTS, type InstanceView, type Scrape } from './top-model.js';

export interface MetricsScraper {
  readonly urls: readonly string[];
  /** Scrape every instance once; an instance that fails keeps its history and carries the error. */
  scrape(): Promise<InstanceView[]>;
  /** The first error of the last scrape, as a CliError (for plain output, which stops on it). */
  lastError(): CliError | null;
}

export function createMetricsScraper(urls: readonly string[], token?: string, keep = HISTORY_POINTS * 2 + 1): MetricsScraper {
  const histories = new Map<string, Scrape[]>(urls.map((u) => [u, []]));
  let firstError: CliError | null = null;
  return {
    urls,
    lastError: () => firstError,
    async scrape() {
      firstError = null;
      return Promise.all(
        urls.map(async (url) => {
          const h = histories.get(url)!;
          try {
            const text = await createApi({ baseUrl: url, token, timeoutMs: 5_000 }).getText('/metrics');
            h.push({ at: Date.now(), samples: parsePrometheusText(text) });
            if (h.length > keep) h.splice(0, h.length - keep);
            return computeInstanceView(url, h);
          } catch (err) {
            const e = err instanceof CliError ? err : new CliError(String(err));
            firstError ??= e;
            return computeInstanceView(url, h, e.message);
          }
        }),
      );
    },
  };
}
