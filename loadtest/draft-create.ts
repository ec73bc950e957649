/**
 * Draft creates (POST /api/drafts) at a fixed rate under autocannon, one user per connection, with
 * observer devices measuring fan-out while REST is loaded. See lib/rest-scenario.ts for the method.
 *
 *   npx tsx loadtest/draft-create.ts [--rate 50] [--seconds 10] [--observers 2] [--url http://127.0.0.1:3000]
 */
import { isMain } from './lib/cli.js';
import { restMain } from './lib/rest-cli.js';

if (isMain(import.meta.url)) restMain('draft-create', 'npx tsx loadtest/draft-create.ts [--rate 50] [--seconds 10] [--observers 2] [--url URL]');
