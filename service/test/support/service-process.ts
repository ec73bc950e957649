/** The service as a child process lives in tools/ (load tests use it too); re-exported for the tests. */
export { spawnService, type ServiceProcess } from '../../../tools/service-process.js';
