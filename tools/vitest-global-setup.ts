/**
 * Vitest global setup (vitest.config.ts): one PostgreSQL for the test run of every part (service,
 * client, cli, dashboards): DATABASE_URL when set, else a throwaway one. Under CI=true a missing
 * PostgreSQL fails the run; locally the PostgreSQL variants are skipped with the reason printed.
 */
import type { TestProject } from 'vitest/node';
import { removePostgres, startPostgres, type PgServer } from './postgres-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string | null;
    pgUnavailableReason: string | null;
  }
}

let server: PgServer | null = null;

export async function setup(project: TestProject): Promise<void> {
  const fromEnv = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  if (fromEnv) {
    project.provide('pgAdminUrl', fromEnv);
    project.provide('pgUnavailableReason', null);
    return;
  }
  try {
    server = await startPostgres();
    project.provide('pgAdminUrl', server.url);
    project.provide('pgUnavailableReason', null);
  } catch (err) {
    const reason = `PostgreSQL could not be started: ${(err as Error).message}`;
    if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`${reason} (CI=true: PostgreSQL tests may not be skipped)`);
    process.stderr.write(`\n[test setup] ${reason}; PostgreSQL variants will be skipped.\n`);
    project.provide('pgAdminUrl', null);
    project.provide('pgUnavailableReason', reason);
  }
}

export async function teardown(): Promise<void> {
  if (server) removePostgres(server);
}
