/** `npm run worker`: the BullMQ worker alone (no HTTP), for deployments that scale jobs separately. */
import { boot } from './main.js';

boot('worker').catch((err: unknown) => {
  process.stderr.write(`archibald-realtime worker: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
