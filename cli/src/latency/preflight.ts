/**
 * The checks `rtctl latency` and `rtctl check` run before they write anything: the service answers
 * /healthz, and /api/drafts accepts the token. Any failure, a network error included, is one
 * CliError line with exit 3 (could not run), never an unexpected error.
 */
import { CliError, ExitCode } from '../errors.js';

const TIMEOUT_MS = 10_000;

/** Why a fetch failed, in a few words. */
function networkReason(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string; message?: string }; message?: string };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer in ${TIMEOUT_MS / 1000} s`;
  const code = e.cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  return e.cause?.message ?? e.message ?? 'network error';
}

/** GET `url + path` and read the whole body; a network failure becomes `onError(reason)`. */
async function get(url: string, path: string, headers: Record<string, string>, onError: (reason: string) => CliError): Promise<Response> {
  try {
    const res = await fetch(url + path, { headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
    await res.arrayBuffer();
    return res;
  } catch (err) {
    throw onError(networkReason(err));
  }
}

/** The service at `url` is up: /healthz answers 2xx. */
export async function probeHealth(url: string): Promise<void> {
  const res = await get(url, '/healthz', {}, (why) => new CliError(`Cannot reach ${url}: ${why}. Is the service running? Check --url or RT_URL.`, ExitCode.UNREACHABLE));
  if (!res.ok) throw new CliError(`${url}/healthz answered ${res.status}: the service is not healthy (is --url the archibald-realtime service?)`, ExitCode.UNREACHABLE);
}

/**
 * /api/drafts at `url` accepts `token`. `refused` is the advice for a 401/403 (`$status` is
 * replaced by the status).
 */
export async function probeApi(url: string, token: string, refused: string): Promise<void> {
  const res = await get(
    url,
    '/api/drafts',
    { authorization: `Bearer ${token}` },
    (why) => new CliError(`${url}/api/drafts did not answer (${why}) although /healthz did: is the service overloaded or restarting?`, ExitCode.UNREACHABLE),
  );
  if (res.status === 401 || res.status === 403) throw new CliError(`${url} ${refused.replace('$status', String(res.status))}`, ExitCode.UNREACHABLE);
  if (!res.ok) throw new CliError(`${url}/api/drafts answered ${res.status}: the service is not ready`, ExitCode.UNREACHABLE);
}
