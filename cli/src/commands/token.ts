/**
 * `rtctl token --user <id> [--admin] [--ttl 8h]`: print a development HS256 token, and only the
 * token, so `$(rtctl token …)` works. `rtctl token --check <jwt>`: say whether the service would
 * accept it and why not (expired, bad signature, malformed); exit 1 when invalid.
 * The secret: --secret, else JWT_SECRET, else refuse (exit 2) unless --dev (the service's
 * built-in development secret, with a warning on stderr).
 */
import { Command } from 'commander';
import type { Context } from '../context.js';
import { ExitCode, usageError } from '../errors.js';
import { formatDuration } from '../format.js';
import { checkToken, mintToken, parseTtl, resolveSecret } from '../token.js';
import type { CommandKit } from './command.js';

export interface TokenOptions {
  user?: string;
  admin?: boolean;
  ttl: string;
  secret?: string;
  dev?: boolean;
  check?: string;
}

export async function runToken(ctx: Context, opts: TokenOptions): Promise<number> {
  if (opts.check !== undefined && opts.user !== undefined) throw usageError('Use either --user (mint) or --check <jwt> (verify), not both');
  if (opts.check === undefined && opts.user === undefined) throw usageError('token needs --user <id> to mint, or --check <jwt> to verify');
  const secret = resolveSecret({ secret: opts.secret, env: ctx.io.env, dev: opts.dev, warn: (line) => ctx.err(line) });

  if (opts.check === undefined) {
    const ttlSec = parseTtl(opts.ttl);
    const token = await mintToken({ userId: opts.user!, admin: opts.admin, ttlSec, secret });
    ctx.out(ctx.json ? JSON.stringify({ token, userId: opts.user, admin: Boolean(opts.admin), expiresAt: new Date(Date.now() + ttlSec * 1000).toISOString() }) : token);
    return ExitCode.OK;
  }

  const result = await checkToken(opts.check, secret);
  if (ctx.json) {
    ctx.out(JSON.stringify(result));
    return result.valid ? ExitCode.OK : ExitCode.FAILURE;
  }
  if (result.valid) {
    const exp = result.expiresAt ? `expires in ${formatDuration(Date.parse(result.expiresAt) - Date.now())} (${result.expiresAt})` : 'never expires';
    ctx.out(`valid: user ${result.userId}${result.admin ? ', admin' : ''}, ${exp}`);
    return ExitCode.OK;
  }
  ctx.err(`rtctl: invalid token (${result.reason}): ${result.message}`);
  return ExitCode.FAILURE;
}

export function tokenCommand({ ctxOf, run }: CommandKit): Command {
  return new Command('token')
    .description('mint a development HS256 token (prints only the token), or check one')
    .option('--user <id>', 'user id (the sub claim)')
    .option('--admin', 'add role: admin (opens the admin endpoints)')
    .option('--ttl <duration>', 'lifetime: 30m, 8h, 2d or seconds', '8h')
    .option('--secret <secret>', 'HS256 secret (default: JWT_SECRET)')
    .option('--dev', "use the service's built-in development secret when JWT_SECRET is unset")
    .option('--check <jwt>', 'verify a token and say why it is invalid')
    .addHelpText('after', '\nExamples:\n  export RT_TOKEN=$(rtctl token --user ops --admin)\n  rtctl token --check "$RT_TOKEN"')
    .action(run((cmd) => runToken(ctxOf(cmd), cmd.opts<TokenOptions>())));
}
