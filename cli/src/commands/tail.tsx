/**
 * `rtctl tail`: be a device of a user and print each event as it arrives, with reconnects, replays
 * and resyncs visible. Ink in a terminal; plain lines (or NDJSON with --json) otherwise, status on stderr.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Command } from 'commander';
import { connectQuerySchema } from '../../../service/src/protocol/index.js';
import type { Context } from '../context.js';
import type { Device, DeviceError } from '../../../client/src/realtime.js';
import { ExitCode, usageError, type ExitCodeValue } from '../errors.js';
import { typeMatcher } from '../format.js';
import { attachFeed, eventJson, formatEventLine, formatStatusLine } from '../tail-feed.js';
import { mintToken, resolveSecret } from '../token.js';
import type { CommandKit } from './command.js';

export interface TailOptions {
  user?: string;
  device?: string;
  type?: string;
  since?: string;
  secret?: string;
  dev?: boolean;
}

/** One line for the operator: what happened and what to do. */
export function explain(error: DeviceError): string {
  switch (error.kind) {
    case 'unreachable':
      return `${error.message}. Is the service running? Check --url or RT_URL.`;
    case 'unauthorized':
      return `${error.message}. Pass a valid --token (check it: rtctl token --check <jwt>) or --user with the service's JWT_SECRET.`;
    case 'bad_request':
      return `${error.message}. Check --url and --device.`;
    default:
      return error.message;
  }
}

export function exitCodeOf(error: DeviceError): ExitCodeValue {
  switch (error.kind) {
    case 'unreachable':
      return ExitCode.UNREACHABLE;
    case 'unauthorized':
      return ExitCode.AUTH;
    case 'bad_request':
      return ExitCode.USAGE;
    default:
      return ExitCode.FAILURE;
  }
}

function parseSince(since: string | undefined): number | undefined {
  if (since === undefined) return undefined;
  if (!/^\d+$/.test(since)) throw usageError(`Invalid --since '${since}': expected a seq number (0 replays everything kept)`);
  return Number(since);
}

export async function runTail(ctx: Context, opts: TailOptions): Promise<number> {
  const deviceId = opts.device ?? `rtctl-${hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 40)}-${randomBytes(2).toString('hex')}`;
  const check = connectQuerySchema.shape.deviceId.safeParse(deviceId);
  if (!check.success) throw usageError(`Invalid --device '${deviceId}': ${check.error.issues[0]?.message ?? 'invalid'}`);
  const lastSeq = parseSince(opts.since);

  if (opts.user !== undefined && ctx.tokenSource === 'option') {
    throw usageError('Give either --token or --user (which mints a token with JWT_SECRET), not both');
  }
  let token = opts.user === undefined ? ctx.token : undefined;
  let getToken: (() => Promise<string>) | undefined;
  if (!token) {
    if (!opts.user) throw usageError('tail needs a token: pass --token (or set RT_TOKEN), or --user <id> with JWT_SECRET set');
    const secret = resolveSecret({ secret: opts.secret, env: ctx.io.env, dev: opts.dev, warn: (line) => ctx.err(line) });
    const userId = opts.user;
    // A minted token can be renewed: the device asks again on TOKEN_EXPIRING, 4401 and 401.
    getToken = () => mintToken({ userId, ttlSec: 3600, secret });
    token = await getToken();
  }

  const { createNodeDevice } = await import('../../../client/src/node.js');
  const device = createNodeDevice({
    urls: ctx.urls,
    deviceId,
    token,
    getToken,
    lastSeq,
    maxInitialAttempts: ctx.urls.length,
  });
  const match = typeMatcher(opts.type);
  return ctx.interactive ? tailInk(ctx, device, match, opts.type) : tailPlain(ctx, device, match);
}

function tailPlain(ctx: Context, device: Device, match: (t: string) => boolean): Promise<number> {
  return new Promise((resolve) => {
    attachFeed(device, { match }, (item) => {
      if (item.kind === 'event') ctx.out(ctx.json ? JSON.stringify(eventJson(item)) : formatEventLine(item, ctx.color));
      else if (item.level !== 'error') ctx.err(formatStatusLine(item, ctx.color && Boolean(ctx.io.stderr.isTTY)));
    });
    device.on('stopped', ({ error }) => {
      if (error) ctx.err(`rtctl: ${explain(error)}`);
      resolve(error ? exitCodeOf(error) : ExitCode.OK);
    });
    ctx.onInterrupt(() => void device.close());
    device.start();
  });
}

async function tailInk(ctx: Context, device: Device, match: (t: string) => boolean, filter?: string): Promise<number> {
  // Ink is loaded only for the interactive view (plain and --json output never need it).
  const [{ render }, { TailApp }] = await Promise.all([import('ink'), import('../components/TailApp.js')]);
  let failure: DeviceError | null = null;
  const app = render(
    <TailApp device={device} match={match} filter={filter} color={ctx.color} onError={(e) => (failure = e)} />,
    { stdout: ctx.io.stdout, stdin: ctx.io.stdin, stderr: ctx.io.stderr, exitOnCtrlC: true, patchConsole: false },
  );
  ctx.onInterrupt(() => app.unmount());
  await app.waitUntilExit();
  await device.close();
  const err = failure as DeviceError | null;
  if (err) {
    ctx.err(`rtctl: ${explain(err)}`);
    return exitCodeOf(err);
  }
  return ExitCode.OK;
}

export function tailCommand({ ctxOf, run }: CommandKit): Command {
  return new Command('tail')
    .description('be a device of a user and print each event as it arrives (Ctrl-C to stop)')
    .option('--user <id>', 'mint a token for this user with JWT_SECRET (overrides RT_TOKEN; not with --token)')
    .option('--device <id>', 'device id (default rtctl-<host>-<random>); events it wrote are marked (own)')
    .option('--type <pattern>', "only these event types: 'DRAFT_*' or 'DRAFT_CREATED,PENDING_*'")
    .option('--since <seq>', 'replay events after this seq first (0: everything the log keeps)')
    .option('--secret <secret>', 'HS256 secret for --user (default: JWT_SECRET)')
    .option('--dev', "with --user: use the service's built-in development secret")
    .addHelpText('after', "\nExamples:\n  JWT_SECRET=… rtctl tail --user u-1 --type 'DRAFT_*'\n  rtctl tail --token \"$T\" --since 0 --json | jq .type")
    .action(run((cmd) => runTail(ctxOf(cmd), cmd.opts<TailOptions>())));
}
