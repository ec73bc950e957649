/**
 * `rtctl latency` options, parsed and validated once into a LatencyConfig. Every bad value is a
 * usage error (exit 2) naming the option. Pure.
 */
import { randomBytes } from 'node:crypto';
import { usageError } from '../errors.js';
import { thresholdsFromFlags, type Threshold, type ThresholdFlags } from './thresholds.js';

export const WRITE_KINDS = ['create', 'update', 'delete', 'convert', 'batch', 'pending-delete'] as const;
export type WriteKind = (typeof WRITE_KINDS)[number];

export const DEFAULT_MIX = 'create=50,update=30,delete=5,convert=5,batch=5,pending-delete=5';

export interface LatencyOptions extends ThresholdFlags {
  users?: string;
  devices?: string;
  rate?: string;
  duration?: string;
  writes?: string;
  warmup?: string;
  drain?: string;
  mix?: string;
  maxLoss?: string;
  junit?: string;
  out?: string;
  hdr?: string;
  secret?: string;
  dev?: boolean;
  tokenCmd?: string;
  runId?: string;
  cleanup?: boolean;
  batchMax?: string;
}

export interface LatencyConfig {
  runId: string;
  users: number;
  /** Devices per user: device 0 writes, the others observe. */
  devices: number;
  /** Writes per second in total (all users), open loop. */
  rate: number;
  /** Measured phase: a duration, or a number of writes. */
  durationMs: number | null;
  writes: number | null;
  warmupMs: number;
  /** After the last write: how long to wait for stragglers before counting them missing. */
  drainMs: number;
  mix: Record<WriteKind, number>;
  batchMax: number;
  thresholds: Threshold[];
  /** Fraction (0–1) of expected deliveries that may be missing. */
  maxLoss: number;
  junit: string | null;
  out: string | null;
  hdr: string | null;
  cleanup: boolean;
}

/** `20s`, `1m`, `500ms`, `1m30s`, or bare seconds. */
export function parseDuration(flag: string, value: string): number {
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(v); m; m = re.exec(v)) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    consumed = re.lastIndex;
  }
  if (consumed !== v.length || v.length === 0) throw usageError(`Invalid ${flag} '${value}': a duration such as 20s, 1m, 500ms (bare numbers are seconds)`);
  return total;
}

function positiveInt(flag: string, value: string | undefined, def: number, max = 1_000_000): number {
  if (value === undefined) return def;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw usageError(`Invalid ${flag} '${value}': a whole number from 1 to ${max}`);
  return n;
}

/** `create=50,update=30,...` → weights; kinds left out weigh 0; at least one must be positive. */
export function parseMix(value: string): Record<WriteKind, number> {
  const mix = Object.fromEntries(WRITE_KINDS.map((k) => [k, 0])) as Record<WriteKind, number>;
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z-]+)\s*[=:]\s*(\d+(?:\.\d+)?)$/.exec(part);
    if (!m || !(WRITE_KINDS as readonly string[]).includes(m[1]!)) {
      throw usageError(`Invalid --mix entry '${part}': use kind=weight with kinds ${WRITE_KINDS.join(', ')}`);
    }
    mix[m[1] as WriteKind] = Number(m[2]);
  }
  if (Object.values(mix).every((w) => w === 0)) throw usageError(`Invalid --mix '${value}': at least one weight must be positive`);
  return mix;
}

/** `0`, `0.5%`, `0.001` → fraction. */
export function parseLoss(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(%)?$/.exec(value.trim());
  if (!m) throw usageError(`Invalid --max-loss '${value}': a fraction (0.001) or a percentage (0.1%)`);
  const n = Number(m[1]) / (m[2] ? 100 : 1);
  if (n > 1) throw usageError(`Invalid --max-loss '${value}': at most 1 (100%)`);
  return n;
}

export function parseLatencyOptions(opts: LatencyOptions): LatencyConfig {
  const users = positiveInt('--users', opts.users, 10, 100_000);
  const devices = positiveInt('--devices', opts.devices, 3, 100);
  if (devices < 2) throw usageError('Invalid --devices: at least 2 per user (one writer, one or more observers)');
  const rate = opts.rate === undefined ? 20 : Number(opts.rate);
  if (!(rate > 0 && rate <= 100_000)) throw usageError(`Invalid --rate '${opts.rate}': writes per second in total, more than 0`);
  if (opts.duration !== undefined && opts.writes !== undefined) throw usageError('Give --duration or --writes, not both');
  const writes = opts.writes === undefined ? null : positiveInt('--writes', opts.writes, 0, 100_000_000);
  const durationMs = writes !== null ? null : parseDuration('--duration', opts.duration ?? '20s');
  if (durationMs !== null && durationMs <= 0) throw usageError('Invalid --duration: more than 0');
  const runId = opts.runId ?? randomBytes(3).toString('hex');
  if (!/^[a-z0-9]{1,16}$/i.test(runId)) throw usageError(`Invalid --run-id '${runId}': 1 to 16 letters or digits`);
  return {
    runId,
    users,
    devices,
    rate,
    durationMs,
    writes,
    warmupMs: parseDuration('--warmup', opts.warmup ?? '5s'),
    drainMs: parseDuration('--drain', opts.drain ?? '10s'),
    mix: parseMix(opts.mix ?? DEFAULT_MIX),
    batchMax: positiveInt('--batch-max', opts.batchMax, 100, 500),
    thresholds: thresholdsFromFlags(opts),
    maxLoss: parseLoss(opts.maxLoss ?? '0'),
    junit: opts.junit ?? null,
    out: opts.out ?? null,
    hdr: opts.hdr ?? null,
    cleanup: opts.cleanup !== false,
  };
}

/** Synthetic user ids carry the run id, so a run's data is recognisable (and removable) afterwards. */
export const userIdOf = (runId: string, n: number) => `lat-${runId}-${n}`;
