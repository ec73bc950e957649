/**
 * rtctl: parse argv, build the context (URLs, token, output mode), run one command, map every
 * failure to one line on stderr and an exit code. Importing this module does nothing; the bin
 * launcher calls runCli. Commands are imported when run, so `rtctl token` does not load Ink.
 */
import { Command, CommanderError, Option } from 'commander';
import type { TailOptions } from './commands/tail.js';
import type { TokenOptions } from './commands/token.js';
import type { TopOptions } from './commands/top.js';
import { createContext, type GlobalOptions, type Io } from './context.js';
import { CliError, EXIT_CODES_HELP, ExitCode } from './errors.js';
import { registerCheck, registerLatency } from './latency/register.js';

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

function buildProgram(io: Io, interrupts: Set<() => void>, setCode: (code: number) => void): Command {
  const program = new Command('rtctl');
  const ctxOf = (cmd: Command) =>
    createContext(cmd.optsWithGlobals<GlobalOptions>(), io, interrupts, program.getOptionValueSource('token') === 'env');
  const run = (fn: (cmd: Command) => Promise<number>) => async (...args: unknown[]) => {
    setCode(await fn(args[args.length - 1] as Command));
  };

  program
    .description('Operate archibald-realtime: mint tokens, tail live events as a device, inspect stats, buffers and connections, watch a live dashboard, run scripted multi-device checks and the latency gate.')
    .addOption(new Option('--url <url>', 'service base URL; repeat (or comma-separate) for several instances').env('RT_URL').argParser(collect))
    .addOption(new Option('--token <jwt>', 'bearer token').env('RT_TOKEN'))
    .option('--json', 'one JSON object per line on stdout, no colour, no interactive view')
    .option('--no-color', 'no colour (NO_COLOR is honoured too)')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      outputError: (s, write) => write(`rtctl: ${s.replace(/^error: /, '').trim()} (see rtctl --help)\n`),
    })
    .addHelpText('after', EXIT_CODES_HELP);

  program
    .command('token')
    .description('mint a development HS256 token (prints only the token), or check one')
    .option('--user <id>', 'user id (the sub claim)')
    .option('--admin', 'add role: admin (opens the admin endpoints)')
    .option('--ttl <duration>', 'lifetime: 30m, 8h, 2d or seconds', '8h')
    .option('--secret <secret>', 'HS256 secret (default: JWT_SECRET)')
    .option('--dev', "use the service's built-in development secret when JWT_SECRET is unset")
    .option('--check <jwt>', 'verify a token and say why it is invalid')
    .addHelpText('after', '\nExamples:\n  export RT_TOKEN=$(rtctl token --user ops --admin)\n  rtctl token --check "$RT_TOKEN"')
    .action(run(async (cmd) => (await import('./commands/token.js')).runToken(ctxOf(cmd), cmd.opts<TokenOptions>())));

  program
    .command('tail')
    .description('be a device of a user and print each event as it arrives (Ctrl-C to stop)')
    .option('--user <id>', 'mint a token for this user with JWT_SECRET (overrides RT_TOKEN; not with --token)')
    .option('--device <id>', 'device id (default rtctl-<host>-<random>); events it wrote are marked (own)')
    .option('--type <pattern>', "only these event types: 'DRAFT_*' or 'DRAFT_CREATED,PENDING_*'")
    .option('--since <seq>', 'replay events after this seq first (0: everything the log keeps)')
    .option('--secret <secret>', 'HS256 secret for --user (default: JWT_SECRET)')
    .option('--dev', "with --user: use the service's built-in development secret")
    .addHelpText('after', "\nExamples:\n  JWT_SECRET=… rtctl tail --user u-1 --type 'DRAFT_*'\n  rtctl tail --token \"$T\" --since 0 --json | jq .type")
    .action(run(async (cmd) => (await import('./commands/tail.js')).runTail(ctxOf(cmd), cmd.opts<TailOptions>())));

  program
    .command('stats')
    .description('connections, users and ring buffers of each instance (GET /api/websocket/stats, admin)')
    .option('--watch', 'refresh until Ctrl-C or q')
    .option('--interval <ms>', 'refresh interval for --watch (ms, or e.g. 5s)', '2000')
    .action(run(async (cmd) => (await import('./commands/admin-commands.js')).runStats(ctxOf(cmd), cmd.opts())));

  program
    .command('buffer')
    .description('what the ring buffers hold: every user, or the events of one user (admin)')
    .argument('[userId]', 'show the buffered events of this user')
    .action(run(async (cmd) => (await import('./commands/admin-commands.js')).runBuffer(ctxOf(cmd), cmd.args[0])));

  program
    .command('connections')
    .description('devices connected to each instance (admin)')
    .option('--user <id>', 'only this user')
    .action(run(async (cmd) => (await import('./commands/admin-commands.js')).runConnections(ctxOf(cmd), cmd.opts<{ user?: string }>().user)));

  program
    .command('top')
    .description('live dashboard from /metrics of each --url: connections, events/s, delivery p50/p99, buffers (q quits)')
    .option('--interval <ms>', 'refresh interval (ms, or e.g. 2s)', '1000')
    .option('--count <n>', 'stop after n refreshes (plain and --json output)')
    .action(run(async (cmd) => (await import('./commands/top.js')).runTop(ctxOf(cmd), cmd.opts<TopOptions>())));

  registerCheck(program, ctxOf, run);
  registerLatency(program, ctxOf, run);

  return program;
}

/** Run rtctl with `argv` (process.argv form) and return the exit code. Never throws. */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  const interrupts = new Set<() => void>();
  let code: number = ExitCode.OK;
  let interrupted = 0;
  const onSigint = () => {
    interrupted += 1;
    // Streaming commands stop cleanly (exit 0); a one-shot command in flight, or a second Ctrl-C, exits 130.
    if (interrupts.size === 0 || interrupted > 1) process.exit(ExitCode.INTERRUPTED);
    for (const fn of interrupts) fn();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  try {
    const program = buildProgram(io, interrupts, (c) => (code = c));
    if (argv.length <= 2) {
      program.outputHelp();
      return ExitCode.USAGE;
    }
    await program.parseAsync([...argv]);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return ExitCode.OK;
      return ExitCode.USAGE;
    }
    if (err instanceof CliError) {
      io.stderr.write(`rtctl: ${err.message}\n`);
      return err.exitCode;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`rtctl: unexpected error: ${message}. Please report it with the command you ran.\n`);
    return ExitCode.FAILURE;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}
