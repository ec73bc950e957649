/**
 * Draft updates (PUT /api/drafts/:id, last-write-wins) at a fixed rate under autocannon: each user
 * (one per connection) updates its own draft once a second; observers measure DRAFT_UPDATED fan-out.
 *
 *   npx tsx loadtest/draft-update.ts [--rate 50] [--seconds 10] [--observers 2] [--url http://127.0.0.1:3000]
 */
import { isMain } from './lib/cli.js';
import { restMain } from './lib/rest-cli.js';

if (isMain(import.meta.url)) restMain('draft-update', 'npx tsx loadtest/draft-update.ts [--rate 50] [--seconds 10] [--observers 2] [--url URL]');
