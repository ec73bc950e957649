/** Run the real rtctl (bin/rtctl.js) as a child process, with pipes: no TTY, so no Ink. */
import { spawn, type ChildProcess } from 'node:child_process';
import { REPO_ROOT, RTCTL } from '../../../tools/paths.js';

export { REPO_ROOT, RTCTL };

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A clean environment: nothing from the developer's shell (RT_URL, JWT_SECRET, CI…) leaks in. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
}

export function runRtctl(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RTCTL, ...args], { cwd: REPO_ROOT, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += String(c)));
    child.stderr.on('data', (c: Buffer) => (stderr += String(c)));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`rtctl ${args.join(' ')} did not exit in ${timeoutMs} ms; stdout=${stdout} stderr=${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running rtctl (tail, top): read its output as it comes, then stop it with a signal. */
export class RunningCli {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [RTCTL, ...args], { cwd: REPO_ROOT, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (c: Buffer) => (this.stdout += String(c)));
    this.child.stderr!.on('data', (c: Buffer) => (this.stderr += String(c)));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  lines(): string[] {
    return this.stdout.split('\n').filter((l) => l !== '');
  }

  async waitFor(pred: (cli: RunningCli) => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stdout=${this.stdout} stderr=${this.stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** A URL on 127.0.0.1 where nothing listens (a port just released), for "unreachable" cases. */
export async function closedPortUrl(): Promise<string> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return `http://127.0.0.1:${port}`;
}
