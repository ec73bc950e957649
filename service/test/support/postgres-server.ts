/** The throwaway PostgreSQL lives in tools/ (the CLI and load tests use it too); re-exported for the tests. */
export { findPgBinDir, removePostgres, startPostgres, type PgServer } from '../../../tools/postgres-server.js';
export { freePort } from '../../../tools/free-port.js';
