/**
 * The service under test, as a child process (the real `service/src/main.ts`), through tools/'s
 * `spawnService`. Tokens come from tools/token.ts (`mintToken`, TEST_SECRET), as in the tests.
 */
import { gcEnv } from './proc.js';
import { spawnService, type ServiceProcess } from '../../tools/service-process.js';
export { mintToken, TEST_SECRET } from '../../tools/token.js';
export type { ServiceProcess };

/**
 * Embedded (PGlite, in memory) unless DATABASE_URL is set; quiet logs so logging is not measured;
 * a full GC on SIGUSR2 for memory figures (gc-preload.mjs).
 */
export async function startService(env: Record<string, string> = {}, name = 'bench', opts: { built?: boolean } = {}): Promise<ServiceProcess & { memoryFile: string }> {
  const gc = gcEnv();
  const svc = await spawnService(
    {
      LOG_LEVEL: 'warn',
      MAINTENANCE_INTERVAL_MS: '0',
      ...gc,
      ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
      ...env,
    },
    name,
    opts,
  );
  return Object.assign(svc, { memoryFile: gc.LOADTEST_MEMORY_FILE! });
}

export function storageLabel(): string {
  return process.env.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : 'embedded PGlite (in memory)';
}

export async function stopService(svc: ServiceProcess): Promise<void> {
  await svc.kill('SIGTERM');
}
