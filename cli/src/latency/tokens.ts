/**
 * Tokens for synthetic users: minted with the service's HS256 secret (--secret, JWT_SECRET, or --dev),
 * or obtained from `--token-cmd '<shell command>'`, which is run with RT_USER=<user id> and prints
 * the token on stdout (for identity providers rtctl cannot sign for).
 */
import { exec } from 'node:child_process';
import { usageError } from '../errors.js';
import { mintToken, resolveSecret } from '../token.js';

export type TokenSource = (userId: string) => Promise<string>;

export function tokenSource(opts: { secret?: string; dev?: boolean; tokenCmd?: string; env: NodeJS.ProcessEnv; warn: (line: string) => void }): TokenSource {
  if (opts.tokenCmd !== undefined) {
    if (opts.secret !== undefined) throw usageError('Give --secret or --token-cmd, not both');
    const cmd = opts.tokenCmd;
    return (userId) => runTokenCmd(cmd, userId, opts.env);
  }
  const secret = resolveSecret({ secret: opts.secret, env: opts.env, dev: opts.dev, warn: opts.warn });
  return (userId) => mintToken({ userId, ttlSec: 3600, secret });
}

function runTokenCmd(cmd: string, userId: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    exec(cmd, { env: { ...env, RT_USER: userId }, timeout: 10_000, maxBuffer: 64 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`--token-cmd failed for ${userId}: ${(stderr || err.message).trim().split('\n')[0]}`));
      const token = stdout.trim().split('\n').pop()?.trim() ?? '';
      if (!/^[\w-]+\.[\w-]+\.[\w-]*$/.test(token)) return reject(new Error(`--token-cmd printed no JWT for ${userId}`));
      resolve(token);
    });
  });
}
