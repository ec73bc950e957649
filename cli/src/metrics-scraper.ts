/**
 * Scrapes /metrics of several instances and keeps each one's recent history (for rates and
 * sparklines). No timer here: `rtctl top` drives it with the one polling loop (poll.ts).
 *
 * With a `discover` function (rtctl top with an admin token), the instances are the --url ones
 * plus every live instance the cluster announces (GET /api/websocket/stats `instances`): each is
 * scraped at its announced URL, and one that cannot be scraped from here (an internal address)
 * still shows what it announced (connections, users, buffers) with the reason. Instances are told
 * apart by instanceId, so a --url and an announced URL of the same instance make one panel.
 */
import { createApi } from './api.js';
import { CliError } from './errors.js';
import { parsePrometheusText } from './prometheus.js';
import { computeInstanceView, HISTORY_POINTS, type InstanceView, type Scrape } from './top-model.js';

/** What an instance announces of itself (a row of the stats answer's `instances`). */
export interface AnnouncedInstance {
  instanceId: string;
  url: string | null;
  totalConnections: number;
  activeUsers: number;
  buffer: { users: number; events: number; bytes: number };
  draining?: boolean;
}

export interface MetricsScraper {
  readonly urls: readonly string[];
  /** Scrape every instance once; an instance that fails keeps its history and carries the error. */
  scrape(): Promise<InstanceView[]>;
  /** The first error of the last scrape of a --url, as a CliError (for plain output, which stops on it). */
  lastError(): CliError | null;
}

export function createMetricsScraper(
  urls: readonly string[],
  token?: string,
  keep = HISTORY_POINTS * 2 + 1,
  discover?: () => Promise<AnnouncedInstance[]>,
): MetricsScraper {
  const histories = new Map<string, Scrape[]>();
  let firstError: CliError | null = null;

  async function scrapeOne(url: string): Promise<{ view: InstanceView; error: CliError | null }> {
    let h = histories.get(url);
    if (!h) histories.set(url, (h = []));
    try {
      const text = await createApi({ baseUrl: url, token, timeoutMs: 5_000 }).getText('/metrics');
      h.push({ at: Date.now(), samples: parsePrometheusText(text) });
      if (h.length > keep) h.splice(0, h.length - keep);
      return { view: computeInstanceView(url, h), error: null };
    } catch (err) {
      const e = err instanceof CliError ? err : new CliError(String(err));
      return { view: computeInstanceView(url, h, e.message), error: e };
    }
  }

  /** An announced instance that could not be scraped: what it announced, and why there is no more. */
  function fromAnnouncement(a: AnnouncedInstance, view: InstanceView | null, error: string): InstanceView {
    const base = view ?? computeInstanceView(a.url ?? `(${a.instanceId})`, [], null);
    return {
      ...base,
      instanceId: a.instanceId,
      ready: a.draining === undefined ? base.ready : !a.draining,
      connections: a.totalConnections,
      users: a.activeUsers,
      buffer: { ...a.buffer },
      error: `${error}; connections, users and buffers as announced`,
      via: 'cluster',
    };
  }

  return {
    urls,
    lastError: () => firstError,
    async scrape() {
      firstError = null;
      const [own, announced] = await Promise.all([
        Promise.all(urls.map(scrapeOne)),
        // Discovery is best effort: without it top shows the --url instances, as it always did.
        discover ? discover().catch(() => [] as AnnouncedInstance[]) : Promise.resolve([] as AnnouncedInstance[]),
      ]);
      for (const o of own) firstError ??= o.error;
      const views = own.map((o) => ({ ...o.view, via: 'url' as const }));
      const seen = new Set(views.map((v) => v.instanceId).filter((id): id is string => id !== null));
      const extra = announced.filter((a) => !seen.has(a.instanceId)).sort((a, b) => a.instanceId.localeCompare(b.instanceId));
      const more = await Promise.all(
        extra.map(async (a) => {
          if (!a.url) return fromAnnouncement(a, null, 'announced no URL');
          const { view, error } = await scrapeOne(a.url);
          if (error || (view.instanceId !== null && view.instanceId !== a.instanceId)) {
            return fromAnnouncement(a, view, error ? `metrics not reachable from here (${error.message})` : `${a.url} is ${view.instanceId}`);
          }
          return { ...view, via: 'cluster' as const };
        }),
      );
      return [...views, ...more];
    },
  };
}

/** Live instances as an instance announces them (admin token needed); the first --url that answers. */
export function discoverFrom(urls: readonly string[], token: string): () => Promise<AnnouncedInstance[]> {
  return async () => {
    let last: unknown = null;
    for (const baseUrl of urls) {
      try {
        const stats = await createApi({ baseUrl, token, timeoutMs: 5_000 }).getJson<{ instances?: AnnouncedInstance[] }>('/api/websocket/stats');
        return stats.instances ?? [];
      } catch (err) {
        last = err;
      }
    }
    throw last instanceof Error ? last : new Error('no --url answered');
  };
}
