// `mmrl init-plugin` end to end: scaffold a plugin package into a temporary directory, build it, run its own tests
// and typecheck as generated, then train 2 RL steps with its weighter from a config that names the package directory.
// Offline and fast: the package's node_modules is a symlink to this repository's (its @mmrl/core is packages/core,
// the tools are the repository's tsup, tsx and tsc); nothing is downloaded.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { mmrl, ROOT, tinyPluginConfig } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mmrl-init-plugin-'));
const pkgDir = join(dir, 'mmrl-plugin-acme');
// Removes the symlink to node_modules, not what it points to.
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The environment of a command run inside the generated package: without the test runner's context (a nested
 * `node --test` would report to this runner) and without the repository's tsx settings.
 */
function packageEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['NODE_TEST_CONTEXT'];
  delete env['TSX_TSCONFIG_PATH'];
  return env;
}

function npm(args: string[], cwd: string) {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', env: packageEnv() });
  return { status: r.status ?? -1, output: `${r.stdout}\n${r.stderr}` };
}

/** Newest modification time of the files under `path`. */
function newest(path: string): number {
  if (!statSync(path).isDirectory()) return statSync(path).mtimeMs;
  return Math.max(0, ...readdirSync(path).map((f) => newest(join(path, f))));
}

/**
 * The generated package imports the built @mmrl/core (its `exports` without the repository's source condition):
 * build it when dist is missing or older than the sources (CI builds before testing; a local checkout may not have).
 */
function ensureCoreBuilt() {
  const core = join(ROOT, 'packages/core');
  const outputs = ['dist/index.js', 'dist/index.d.ts', 'dist/testing/index.js', 'dist/testing/index.d.ts'].map((f) => join(core, f));
  const fresh = outputs.every((f) => existsSync(f)) && Math.min(...outputs.map((f) => statSync(f).mtimeMs)) >= newest(join(core, 'src'));
  if (fresh) return;
  const r = npm(['run', 'build', '-w', '@mmrl/core'], ROOT);
  assert.equal(r.status, 0, `building @mmrl/core failed:\n${r.output}`);
}

test('the template pins the toolchain of this repository', () => {
  const template = JSON.parse(readFileSync(join(ROOT, 'packages/cli/templates/plugin/package.json'), 'utf8'));
  const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  for (const tool of ['tsup', 'tsx', 'typescript', '@types/node']) {
    assert.equal(template.devDependencies[tool], root.devDependencies[tool], `templates/plugin/package.json: ${tool}`);
  }
});

test('mmrl init-plugin refuses an invalid name and a non-empty directory', () => {
  const bad = mmrl(['init-plugin', 'Not A Name', '--dir', join(dir, 'bad')]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /"Not A Name" is not a valid npm package name/);
  mkdirSync(join(dir, 'taken'));
  writeFileSync(join(dir, 'taken', 'file.txt'), 'x');
  const taken = mmrl(['init-plugin', 'mmrl-plugin-x', '--dir', join(dir, 'taken')]);
  assert.equal(taken.status, 1);
  assert.match(taken.stderr, /taken exists and is not an empty directory/);
  assert.deepEqual(readdirSync(join(dir, 'taken')), ['file.txt']);
});

test('mmrl init-plugin scaffolds a package that builds, passes its tests and trains 2 RL steps', () => {
  ensureCoreBuilt();

  const init = mmrl(['init-plugin', 'mmrl-plugin-acme', '--dir', pkgDir, '--core', 'packages/core']);
  assert.equal(init.status, 0, init.stderr);
  for (const file of ['package.json', 'tsconfig.json', 'tsup.config.ts', 'src/index.ts', 'test/plugin.test.ts', 'README.md', '.gitignore', '.npmrc']) {
    assert.ok(existsSync(join(pkgDir, file)), `missing ${file}`);
    assert.doesNotMatch(readFileSync(join(pkgDir, file), 'utf8'), /\{\{\w+\}\}/, `${file}: placeholder left`);
  }
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  assert.equal(pkg.name, 'mmrl-plugin-acme');
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.peerDependencies['@mmrl/core'], '^0.1.0');
  assert.match(pkg.devDependencies['@mmrl/core'], /^file:/);
  assert.equal(resolve(pkgDir, pkg.devDependencies['@mmrl/core'].slice('file:'.length)), join(ROOT, 'packages/core'));
  assert.match(readFileSync(join(pkgDir, 'src/index.ts'), 'utf8'), /namespace: 'acme'/);
  assert.match(readFileSync(join(pkgDir, '.npmrc'), 'utf8'), /^install-links=true$/m);

  symlinkSync(join(ROOT, 'node_modules'), join(pkgDir, 'node_modules'), 'dir');
  const build = npm(['run', 'build'], pkgDir);
  assert.equal(build.status, 0, build.output);
  assert.ok(existsSync(join(pkgDir, 'dist/index.js')) && existsSync(join(pkgDir, 'dist/index.d.ts')), build.output);
  const tests = npm(['test'], pkgDir);
  assert.equal(tests.status, 0, tests.output);
  assert.match(tests.output, /^\S+ pass 2\n\S+ fail 0$/m); // "# pass 2" (TAP) or "ℹ pass 2" (spec reporter)
  const typecheck = npm(['run', 'typecheck'], pkgDir);
  assert.equal(typecheck.status, 0, typecheck.output);

  // A config one directory below names the package directory: it loads through the package's exports (dist).
  mkdirSync(join(dir, 'configs'));
  const config = join(dir, 'configs', 'acme.json');
  writeFileSync(
    config,
    JSON.stringify(
      tinyPluginConfig({
        plugins: ['../mmrl-plugin-acme'],
        weighters: [{ name: 'acme/surprise-boost', options: { threshold: 0.6 } }],
      }),
    ),
  );
  const out = join(dir, 'runs');
  const train = mmrl(['train', config, '--out', out, '--name', 'run', '--quiet']);
  assert.equal(train.status, 0, train.stderr);
  const steps = readFileSync(join(out, 'run', 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((row) => row.phase === 'rl')
    .map((row) => row.step);
  assert.deepEqual(steps, [0, 1]);
  const recorded = JSON.parse(readFileSync(join(out, 'run', 'config.json'), 'utf8'));
  assert.equal(recorded.versions['mmrl-plugin-acme'], '0.1.0');
  assert.deepEqual(recorded.config.trainer.weighters, [{ name: 'acme/surprise-boost', options: { threshold: 0.6, boost: 0.5 } }]);
});
