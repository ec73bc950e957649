/**
 * What cli.tsx hands every command factory (`commands/<name>.ts(x)` exports one): how to build the
 * command's Context from the parsed options, and how to report an action's exit code. A factory
 * returns its commander `Command` (options, help text, action); cli.tsx adds each to the program.
 */
import type { Command } from 'commander';
import type { Context } from '../context.js';

export interface CommandKit {
  ctxOf(cmd: Command): Context;
  /** Wrap an action: the number it resolves with is the process's exit code. */
  run(fn: (cmd: Command) => Promise<number>): (...args: unknown[]) => Promise<void>;
}

export type CommandFactory = (kit: CommandKit) => Command;

/** Commander argParser for repeatable options. */
export const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];
