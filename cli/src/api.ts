/**
 * HTTP client for the service's admin and metrics routes. Every failure becomes a CliError with
 * one line saying what to do and the exit code of its kind (unreachable 3, auth 4, other 1).
 */
import { CliError, ExitCode } from './errors.js';

export interface ApiClient {
  readonly baseUrl: string;
  getJson<T>(path: string): Promise<T>;
  getText(path: string): Promise<string>;
}

export function createApi(opts: { baseUrl: string; token?: string; timeoutMs?: number; fetch?: typeof fetch }): ApiClient {
  const doFetch = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 10_000;

  async function request(path: string): Promise<Response> {
    const url = opts.baseUrl + path;
    let res: Response;
    try {
      res = await doFetch(url, {
        headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      if ((err as { cause?: { message?: string } }).cause?.message === 'bad port') {
        throw new CliError(`Invalid --url ${opts.baseUrl}: that port is reserved and refused by HTTP clients; use the service's port`, ExitCode.USAGE);
      }
      throw new CliError(`Cannot reach ${opts.baseUrl}: ${networkReason(err)}. Is the service running? Check --url or RT_URL.`, ExitCode.UNREACHABLE);
    }
    if (res.ok) return res;
    const message = await errorMessage(res);
    if (res.status === 401) {
      const fix = opts.token
        ? 'Pass a valid token with --token or RT_TOKEN (check it: rtctl token --check <jwt>).'
        : 'Pass a token with --token or RT_TOKEN (mint one: rtctl token --user <id> --admin).';
      throw new CliError(`${opts.baseUrl} refused the request (401 ${message}). ${fix}`, ExitCode.AUTH);
    }
    if (res.status === 403) {
      throw new CliError(
        `${opts.baseUrl}${path} needs an admin token (403 ${message}). Mint one with: rtctl token --user <id> --admin`,
        ExitCode.AUTH,
      );
    }
    throw new CliError(`${opts.baseUrl}${path} answered ${res.status}: ${message}`, ExitCode.FAILURE);
  }

  return {
    baseUrl: opts.baseUrl,
    async getJson<T>(path: string) {
      const res = await request(path);
      try {
        return (await res.json()) as T;
      } catch {
        throw new CliError(`${opts.baseUrl}${path} did not answer JSON: is --url the archibald-realtime service?`, ExitCode.FAILURE);
      }
    },
    async getText(path: string) {
      return (await request(path)).text();
    },
  };
}

async function errorMessage(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error?.message) return body.error.code ? `${body.error.code}: ${body.error.message}` : body.error.message;
  } catch {
    // not JSON
  }
  return res.statusText || 'error';
}

function networkReason(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string; message?: string }; message?: string };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'no answer (timed out)';
  const code = e.cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (code === 'ECONNRESET') return 'connection reset';
  return e.cause?.message ?? e.message ?? 'network error';
}
