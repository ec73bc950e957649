/**
 * Pending-order batch upserts (POST /api/pending-orders with 1, 10 and 100 new orders) at a fixed
 * rate under autocannon; one PENDING_CREATED per batch is measured on the observers.
 *
 *   npx tsx loadtest/pending-batch.ts [--batch 1,10,100] [--rate 50] [--seconds 10] [--observers 2] [--url URL]
 */
import { isMain } from './lib/cli.js';
import { restMain } from './lib/rest-cli.js';

if (isMain(import.meta.url)) restMain('pending-batch', 'npx tsx loadtest/pending-batch.ts [--batch 1,10,100] [--rate 50] [--seconds 10] [--observers 2] [--url URL]');
