import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

test('the README explains the demo config exactly as shipped', () => {
  const block = /```yaml\n(seed:[\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'README has a yaml block starting with seed:');
  const shipped = readFileSync(join(ROOT, 'examples/configs/demo.yaml'), 'utf8');
  assert.equal(shipped.slice(shipped.indexOf('seed:')), block);
});

test('the README commands exist: npm run demo, npm test; CI runs the test command', () => {
  assert.match(readme, /npm ci && npm run demo/);
  assert.match(readme, /\nnpm test\n/);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  assert.ok(pkg.scripts.demo && pkg.scripts.test);
  assert.match(readFileSync(join(ROOT, '.ci/run'), 'utf8'), /\nnpm test\n/);
});
