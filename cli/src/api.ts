/**
 * rtctl's HTTP calls (admin routes, /metrics): the client library's REST client underneath, and
 * here only the mapping of its errors to a CliError with one line saying what to do and the exit
 * code of its kind (unreachable 3, auth 4, other 1).
 */
import { ApiError, createRestClient } from '../../client/src/rest.js';
import { CliError, ExitCode } from './errors.js';

export interface ApiClient {
  readonly baseUrl: string;
  getJson<T>(path: string): Promise<T>;
  getText(path: string): Promise<string>;
  /** POST (admin actions, e.g. revoke); the answer's JSON body. */
  postJson<T>(path: string, body?: unknown): Promise<T>;
}

export function createApi(opts: { baseUrl: string; token?: string; timeoutMs?: number; fetch?: typeof fetch }): ApiClient {
  const rest = createRestClient({ url: opts.baseUrl, getToken: () => opts.token ?? '', fetch: opts.fetch, timeoutMs: opts.timeoutMs ?? 10_000 });

  async function call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    try {
      return (await rest.request({ method, path, body })).body;
    } catch (err) {
      throw toCliError(err, opts.baseUrl, path, opts.token !== undefined);
    }
  }
  const get = (path: string) => call('GET', path);
  const json = <T>(path: string, body: unknown): T => {
    // The REST client hands back the text when the answer is not JSON.
    if (typeof body === 'string' || body === null) {
      throw new CliError(`${opts.baseUrl}${path} did not answer JSON: is --url the archibald-realtime service?`, ExitCode.FAILURE);
    }
    return body as T;
  };

  return {
    baseUrl: opts.baseUrl,
    async getJson<T>(path: string) {
      return json<T>(path, await get(path));
    },
    async postJson<T>(path: string, body?: unknown) {
      return json<T>(path, await call('POST', path, body));
    },
    async getText(path: string) {
      const body = await get(path);
      return typeof body === 'string' ? body : JSON.stringify(body ?? '');
    },
  };
}

function toCliError(err: unknown, baseUrl: string, path: string, hadToken: boolean): CliError {
  if (!(err instanceof ApiError)) return new CliError(`${baseUrl}${path}: ${err instanceof Error ? err.message : String(err)}`);
  if (err.status === 0) {
    if (/bad port/.test(err.message)) {
      return new CliError(`Invalid --url ${baseUrl}: that port is reserved and refused by HTTP clients; use the service's port`, ExitCode.USAGE);
    }
    return new CliError(`Cannot reach ${baseUrl}: ${networkReason(err)}. Is the service running? Check --url or RT_URL.`, ExitCode.UNREACHABLE);
  }
  const message = err.code.startsWith('HTTP_') ? httpText(err.status) : `${err.code}: ${err.message}`;
  if (err.status === 401) {
    const fix = hadToken
      ? 'Pass a valid token with --token or RT_TOKEN (check it: rtctl token --check <jwt>).'
      : 'Pass a token with --token or RT_TOKEN (mint one: rtctl token --user <id> --admin).';
    return new CliError(`${baseUrl} refused the request (401 ${message}). ${fix}`, ExitCode.AUTH);
  }
  if (err.status === 403) {
    return new CliError(`${baseUrl}${path} needs an admin token (403 ${message}). Mint one with: rtctl token --user <id> --admin`, ExitCode.AUTH);
  }
  return new CliError(`${baseUrl}${path} answered ${err.status}: ${message}`, ExitCode.FAILURE);
}

/** The REST client's network message carries the cause (undici's code); say it in words. */
function networkReason(err: ApiError): string {
  if (err.code === 'TIMEOUT') return 'no answer (timed out)';
  const m = err.message;
  if (/ECONNREFUSED/.test(m)) return 'connection refused';
  if (/ENOTFOUND|EAI_AGAIN/.test(m)) return 'host not found';
  if (/ECONNRESET/.test(m)) return 'connection reset';
  return /\((.*)\)$/.exec(m)?.[1] ?? 'network error';
}

const HTTP_TEXT: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable' };
const httpText = (status: number) => HTTP_TEXT[status] ?? 'error';
