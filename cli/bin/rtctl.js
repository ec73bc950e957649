#!/usr/bin/env node
// rtctl launcher: runs the TypeScript sources through tsx, so a fresh clone needs no build step
// (`node dist/cli/src/main.js` is the same program compiled by `npm run build`).
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
