// Lists every *.test.ts under packages/*/test, examples/*/test (the example plugin packages) and test/ and runs them
// with node:test through tsx.
// Node 20's --test expands no globs, so the files are listed here; finding none is a failure.
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = [
  'test',
  ...readdirSync('packages').map((p) => join('packages', p, 'test')),
  ...readdirSync('examples').map((p) => join('examples', p, 'test')),
].filter((d) => existsSync(d));
const filter = process.argv[2];
const files = roots
  .flatMap((root) => readdirSync(root, { recursive: true }).map((f) => join(root, String(f))))
  .filter((f) => f.endsWith('.test.ts') && !f.includes('node_modules'))
  .filter((f) => !filter || f.includes(filter))
  .sort();
if (files.length === 0) {
  console.error(`run-tests: no test files found${filter ? ` matching "${filter}"` : ''}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--conditions=@mmrl/source', '--import', 'tsx', '--test', '--test-concurrency=2', ...files],
  // tsx reads compiler options (experimentalDecorators for @inject) from the shared base config: the root
  // tsconfig.json is a solution file that lists no files, so its options would apply to none.
  { stdio: 'inherit', env: { ...process.env, TSX_TSCONFIG_PATH: 'tsconfig.base.json' } },
);
process.exit(result.status ?? 1);
