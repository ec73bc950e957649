/**
 * How an admin View is shown: Ink tables in a terminal, plain tables or NDJSON otherwise; once, or
 * refreshed (`--watch`) through the one polling loop. Ink is imported only for the terminal.
 */
import { printView, type View } from './admin-views.js';
import type { Context } from './context.js';
import { ExitCode } from './errors.js';
import { pollLines } from './poll.js';

/** Show a view once. */
export async function showOnce(ctx: Context, load: () => Promise<View>): Promise<number> {
  const view = await load();
  if (!ctx.interactive) {
    printView(ctx, view);
    return ExitCode.OK;
  }
  const [{ render }, { ViewTables }] = await Promise.all([import('ink'), import('./components/ViewTables.js')]);
  const app = render(<ViewTables view={view} color={ctx.color} />, { stdout: ctx.io.stdout, stdin: ctx.io.stdin, patchConsole: false });
  app.unmount();
  await app.waitUntilExit();
  return ExitCode.OK;
}

/** Refresh a view every `intervalMs` until Ctrl-C (or q): exit 0. Plain output prints each refresh; an error ends it. */
export async function watch(ctx: Context, load: () => Promise<View>, intervalMs: number): Promise<number> {
  if (!ctx.interactive) {
    return pollLines(ctx, load, {
      intervalMs,
      print: (view) => {
        printView(ctx, view);
        if (!ctx.json) ctx.out('');
      },
    });
  }
  const first = await load(); // fail fast (unreachable, 401, 403) before taking the screen
  const [{ render }, { WatchApp }] = await Promise.all([import('ink'), import('./components/WatchApp.js')]);
  const app = render(<WatchApp load={load} intervalMs={intervalMs} color={ctx.color} first={first} />, {
    stdout: ctx.io.stdout,
    stdin: ctx.io.stdin,
    exitOnCtrlC: true,
    patchConsole: false,
  });
  ctx.onInterrupt(() => app.unmount());
  await app.waitUntilExit();
  return ExitCode.OK;
}
