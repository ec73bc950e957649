/**
 * Shared by the generated bad-input corpora (bad-input.property.test.ts for REST,
 * bad-frames.property.test.ts for WebSocket frames): the seed, a raw HTTP sender that sends what
 * fetch would refuse or normalize (any method, a path with `..` or broken %-escapes, bytes that are
 * not UTF-8), the checks every answer must pass (no 5xx, the JSON error shape, no stack trace, path
 * or SQL text), and a tally by route and status printed at the end of a run.
 */
import http from 'node:http';

/** The corpus seed: fixed so every CI run sends the same inputs; `FC_SEED=<n>` replays another run. */
export function corpusSeed(defaultSeed: number): number {
  const env = process.env.FC_SEED;
  if (env === undefined || env === '') return defaultSeed;
  const n = Number(env);
  if (!Number.isInteger(n)) throw new Error(`FC_SEED must be an integer, got ${env}`);
  return n;
}

export interface RawRequest {
  method: string;
  /** Sent as is: not normalized, not re-encoded. */
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Transfer-Encoding: chunked instead of Content-Length. */
  chunked?: boolean;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The parsed body, or undefined when it is not JSON. */
  json: unknown;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

/** One request over Node's http client (keep-alive). Rejects only on a network error. */
export function sendRaw(baseUrl: string, req: RawRequest): Promise<RawResponse> {
  const url = new URL(baseUrl);
  const body = req.body === undefined ? undefined : typeof req.body === 'string' ? Buffer.from(req.body, 'utf8') : Buffer.from(req.body);
  const headers: Record<string, string> = { ...req.headers };
  const chunked = body !== undefined && req.chunked === true;
  if (body !== undefined && !chunked) headers['content-length'] = String(body.length);
  if (chunked) headers['transfer-encoding'] = 'chunked';
  return new Promise((resolve, reject) => {
    const r = http.request(
      { host: url.hostname, port: url.port, method: req.method, path: req.path, headers, agent, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    r.on('timeout', () => r.destroy(new Error(`timeout: ${req.method} ${req.path}`)));
    r.on('error', reject);
    if (body !== undefined && chunked) {
      // Two chunks, so the server cannot rely on one read.
      const half = Math.floor(body.length / 2);
      r.write(body.subarray(0, half));
      r.end(body.subarray(half));
    } else {
      r.end(body);
    }
  });
}

export function closeCorpusAgent(): void {
  agent.destroy();
}

/**
 * What must never reach a client: stack frames, source paths, SQL or driver text, file contents a
 * traversal could reach. Each pattern is matched against the answer; a match that is only an echo
 * of the client's own input (a 404 names the path it got) is not a leak.
 */
const LEAK_PATTERNS: RegExp[] = [
  /\bat [\w$.<>[\]]+ \([^)]*\)/, // a stack frame: "at fn (file:1:2)"
  /\n\s+at /,
  /\.(?:ts|js|mjs|cjs):\d+/,
  /node_modules|file:\/\/|\/work\/|\/usr\/|\/home\//,
  /\b(?:SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|ON CONFLICT|RETURNING)\b/i,
  /syntax error|violates|duplicate key|invalid input syntax|relation "|column "|\bpg_|\bpglite\b|postgres|sqlstate/i,
  /\bpg\b/,
  /root:x:0:0|"devDependencies"|BEGIN [A-Z ]*PRIVATE KEY/,
  /[A-Za-z]*Error\b/, // a JS error's name: TypeError, URIError, …
];

/** The leaks in `text`: pattern matches that do not appear in what the client sent. */
export function findLeaks(text: string, sent: string): string[] {
  const lowerSent = sent.toLowerCase();
  const leaks: string[] = [];
  for (const p of LEAK_PATTERNS) {
    const m = new RegExp(p.source, p.flags.includes('g') ? p.flags : `${p.flags}g`);
    for (const hit of text.matchAll(m)) {
      if (!lowerSent.includes(hit[0].toLowerCase())) leaks.push(hit[0]);
    }
  }
  return leaks;
}

/** Everything of a request a server could echo back, for `findLeaks`. */
export function sentText(req: RawRequest): string {
  let path = req.path;
  try {
    path += ` ${decodeURIComponent(req.path)}`;
  } catch {
    // a broken %-escape: the raw path is what can be echoed
  }
  const body = req.body === undefined ? '' : typeof req.body === 'string' ? req.body : Buffer.from(req.body).toString('utf8');
  // JSON escapes in the body come back unescaped in a parse error, and vice versa.
  let unescaped = '';
  try {
    unescaped = JSON.stringify(JSON.parse(body));
  } catch {
    // not JSON
  }
  return [req.method, path, ...Object.values(req.headers ?? {}), body, unescaped].join('\n');
}

/** The JSON error shape DESIGN §3 promises: `{ error: { code, message, details? } }`. */
export function errorShapeProblems(res: RawResponse): string[] {
  const problems: string[] = [];
  if (!String(res.headers['content-type'] ?? '').startsWith('application/json')) {
    problems.push(`content-type ${String(res.headers['content-type'])}`);
  }
  const err = (res.json as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  if (!err || typeof err !== 'object') return [...problems, 'no error object'];
  if (typeof err.code !== 'string' || !/^[A-Z][A-Z0-9_]*$/.test(err.code)) problems.push(`code ${JSON.stringify(err.code)}`);
  if (typeof err.message !== 'string' || err.message === '') problems.push('message is not a non-empty string');
  const extra = Object.keys(err).filter((k) => !['code', 'message', 'details'].includes(k));
  if (extra.length > 0) problems.push(`unexpected error fields ${extra.join(',')}`);
  return problems;
}

/** Methods Node's parser and koa-router know; any other one may answer 501 NOT_IMPLEMENTED. */
const ROUTER_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'POST', 'DELETE']);

/**
 * The answer-level invariants: never a 5xx (501 only for a method the router does not implement),
 * every 4xx (and that 501) in the JSON error shape, nothing leaked in any body.
 */
export function answerProblems(req: RawRequest, res: RawResponse): string[] {
  const problems: string[] = [];
  const unknownMethod = !ROUTER_METHODS.has(req.method.toUpperCase());
  if (res.status >= 500 && !(res.status === 501 && unknownMethod)) problems.push(`status ${res.status}`);
  if (res.status >= 400 && req.method !== 'HEAD') {
    problems.push(...errorShapeProblems(res));
    if (res.status === 501 && (res.json as { error?: { code?: string } })?.error?.code !== 'NOT_IMPLEMENTED') problems.push('501 without NOT_IMPLEMENTED');
  }
  // 2xx bodies hold what clients stored (checked against the model instead); so does the `current`
  // draft of a 409. Everything else the server wrote itself.
  const own = res.status < 300 ? '' : res.json === undefined ? res.text : JSON.stringify({ ...(res.json as object), current: undefined });
  const leaks = findLeaks(own, sentText(req));
  if (leaks.length > 0) problems.push(`leaked ${JSON.stringify(leaks.slice(0, 3))}`);
  return problems;
}

/** Counts by route label and status, printed at the end of a run. */
export class Tally {
  private readonly counts = new Map<string, Map<number | string, number>>();
  total = 0;

  add(label: string, status: number | string): void {
    this.total += 1;
    const byStatus = this.counts.get(label) ?? new Map<number | string, number>();
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    this.counts.set(label, byStatus);
  }

  statuses(): Set<number | string> {
    return new Set([...this.counts.values()].flatMap((m) => [...m.keys()]));
  }

  summary(title: string): string {
    const lines = [...this.counts.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([label, m]) => {
        const parts = [...m.entries()].sort(([a], [b]) => String(a).localeCompare(String(b))).map(([s, n]) => `${s}×${n}`);
        return `  ${label.padEnd(38)} ${parts.join(' ')}`;
      });
    return [`${title}: ${this.total} cases`, ...lines].join('\n');
  }
}

/** A short, printable form of a request for failure messages (long bodies cut). */
export function describeRequest(req: RawRequest): string {
  const body = req.body === undefined ? '' : typeof req.body === 'string' ? req.body : `<${req.body.length} bytes>`;
  const cut = (s: string) => (s.length > 300 ? `${s.slice(0, 300)}…(${s.length} chars)` : s);
  return `${req.method} ${cut(req.path)} headers=${cut(JSON.stringify(req.headers ?? {}))} body=${cut(JSON.stringify(body))}`;
}
