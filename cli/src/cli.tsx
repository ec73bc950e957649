/**
 * rtctl: parse argv, build the context (URLs, token, output mode), run one command, map every
 * failure to one line on stderr and an exit code. Importing this module does nothing; the bin
 * launcher calls runCli. Each command is one file in commands/ (its options and its action); they
 * import Ink and their heavy machinery (the latency engine, scenario files) only when they run,
 * so `rtctl token` does not load them.
 */
import { Command, CommanderError, Option } from 'commander';
import { bufferCommand } from './commands/buffer.js';
import { checkCommand } from './commands/check.js';
import { collect, type CommandFactory, type CommandKit } from './commands/command.js';
import { connectionsCommand } from './commands/connections.js';
import { latencyCommand } from './commands/latency.js';
import { revokeCommand } from './commands/revoke.js';
import { statsCommand } from './commands/stats.js';
import { tailCommand } from './commands/tail.js';
import { tokenCommand } from './commands/token.js';
import { topCommand } from './commands/top.js';
import { createContext, type GlobalOptions, type Io } from './context.js';
import { CliError, EXIT_CODES_HELP, ExitCode } from './errors.js';

/** Every command, in the order --help lists them; each file holds its options and its action. */
const COMMANDS: readonly CommandFactory[] = [
  tokenCommand,
  tailCommand,
  statsCommand,
  bufferCommand,
  connectionsCommand,
  revokeCommand,
  topCommand,
  checkCommand,
  latencyCommand,
];

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
    // Every command's --help lists --json, --url, --token and --no-color too.
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      outputError: (s, write) => write(`rtctl: ${s.replace(/^error: /, '').trim()} (see rtctl --help)\n`),
    })
    .addHelpText('after', EXIT_CODES_HELP);

  const kit: CommandKit = { ctxOf, run };
  for (const make of COMMANDS) program.addCommand(make(kit).copyInheritedSettings(program));

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
