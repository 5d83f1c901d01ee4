#!/usr/bin/env node
// The `mmrl` command. A tracked file (not dist/bin.js itself) so that `npm ci` on a fresh clone links
// node_modules/.bin/mmrl before anything is built; it runs the built CLI, or says how to build it.
import { existsSync } from 'node:fs';

const built = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(built)) {
  console.error('mmrl: the CLI is not built yet (packages/cli/dist/bin.js is missing): run `npm run build` first');
  process.exit(1);
}
await import(built.href);
