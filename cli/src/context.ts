/**
 * What every command gets: the parsed global options and where to write. Decides, once, whether
 * output is interactive (Ink) or plain lines / NDJSON (not a TTY, --json, or CI set).
 */
import { usageError } from './errors.js';

export interface GlobalOptions {
  url?: string[];
  token?: string;
  json?: boolean;
  color?: boolean;
}

export interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  env: NodeJS.ProcessEnv;
}

export interface Context {
  /** Service base URLs, validated (http: or https:, no trailing slash). */
  urls: string[];
  token: string | undefined;
  /** Where the token came from: --token, or RT_TOKEN (which --user overrides in tail). */
  tokenSource: 'option' | 'env' | null;
  json: boolean;
  /** Render with Ink: stdout is a TTY, no --json, CI unset. */
  interactive: boolean;
  color: boolean;
  io: Io;
  /** A line on stdout (results). */
  out(line: string): void;
  /** A line on stderr (diagnostics). */
  err(line: string): void;
  /** Called once when the process is asked to stop (Ctrl-C); commands register cleanup here. */
  onInterrupt(fn: () => void): () => void;
}

export const DEFAULT_URL = 'http://127.0.0.1:3000';

/** Split comma-separated values and validate each as an http(s) base URL. */
export function parseUrls(values: readonly string[] | undefined): string[] {
  const urls = (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  if (urls.length === 0) return [DEFAULT_URL];
  return urls.map((raw) => {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw usageError(`Invalid --url '${raw}': expected http://host:port (e.g. ${DEFAULT_URL})`);
    }
    if (u.protocol === 'ws:') u.protocol = 'http:';
    if (u.protocol === 'wss:') u.protocol = 'https:';
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw usageError(`Invalid --url '${raw}': use http:// or https:// (e.g. ${DEFAULT_URL})`);
    }
    return `${u.origin}${u.pathname.replace(/\/+$/, '').replace(/\/ws\/realtime$/, '')}`;
  });
}

export function isTruthyEnv(v: string | undefined): boolean {
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

export function createContext(opts: GlobalOptions, io: Io, interrupts: Set<() => void>, tokenFromEnv = false): Context {
  const json = Boolean(opts.json);
  const tty = Boolean(io.stdout.isTTY);
  const interactive = tty && !json && !isTruthyEnv(io.env.CI);
  const noColorEnv = io.env.NO_COLOR !== undefined && io.env.NO_COLOR !== '';
  const color = opts.color !== false && !noColorEnv && !json && tty;
  const token = opts.token && opts.token.trim() !== '' ? opts.token.trim() : undefined;
  return {
    urls: parseUrls(opts.url),
    token,
    tokenSource: token === undefined ? null : tokenFromEnv ? 'env' : 'option',
    json,
    interactive,
    color,
    io,
    out: (line) => void io.stdout.write(`${line}\n`),
    err: (line) => void io.stderr.write(`${line}\n`),
    onInterrupt(fn) {
      interrupts.add(fn);
      return () => interrupts.delete(fn);
    },
  };
}
