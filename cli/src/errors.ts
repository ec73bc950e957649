/**
 * Exit codes are part of rtctl's interface (documented in --help and cli/README.md).
 * A CliError is one line for the operator: what went wrong and what to do. Never a stack trace.
 */
export const ExitCode = {
  OK: 0,
  /** The command ran and failed: server error, invalid token on `token --check`, device stopped. */
  FAILURE: 1,
  /** Bad option, missing argument, bad URL. */
  USAGE: 2,
  /** The server could not be reached. */
  UNREACHABLE: 3,
  /** The server refused the token (401) or the role (403). */
  AUTH: 4,
  /** Interrupted (Ctrl-C) before a one-shot command finished. Streaming commands exit 0 on Ctrl-C. */
  INTERRUPTED: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODES_HELP = `
Exit codes:
  0    success (also Ctrl-C or q in tail, stats --watch and top)
  1    the command failed (server error, invalid token for token --check)
  2    usage error (bad option or argument, bad URL, missing secret)
  3    server unreachable
  4    authentication refused (401) or not an admin (403)
  130  interrupted before a one-shot command finished
  latency adds 4 (correctness failure) and 99 (threshold missed); check adds 4 (a scenario
  failed) and 5 (nothing ran): see rtctl latency --help and rtctl check --help

Environment:
  RT_URL      default for --url (several: comma-separated)
  RT_TOKEN    default for --token
  JWT_SECRET  HS256 secret used by token and by --user to mint a token
  NO_COLOR    disable colour (same as --no-color)
  CI          no interactive (Ink) output, like --json without the JSON`;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue = ExitCode.FAILURE,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string) => new CliError(message, ExitCode.USAGE);
