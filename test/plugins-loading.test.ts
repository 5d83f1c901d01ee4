import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Ajv } from 'ajv';
import { mmrl, ROOT, tinyPluginConfig } from './helpers.js';

// Plugin modules live in a temp directory, where no package resolves: they are plain objects with hand-written JSON
// schemas, exactly what a third-party package's default export is at run time.
const dir = mkdtempSync(join(tmpdir(), 'mmrl-plugins-'));

const BETA_SCHEMA = { type: 'object', properties: { beta: { type: 'number', default: 0.5 } }, additionalProperties: false };

/** Source of a plugin module with one token weighter `name` (multiplier: ones on the response mask). */
function pluginSource({
  name = 'noop',
  apiVersion = '^1.0.0',
  schema = BETA_SCHEMA as object,
  pkg = 'mmrl-plugin-acme',
  marker,
}: { name?: string; apiVersion?: string; schema?: object; pkg?: string; marker?: string } = {}): string {
  // With a marker, the weighter records each call in that file (the test checks that training used it).
  const record = marker ? `appendFileSync(${JSON.stringify(marker)}, 'weights\\n'); ` : '';
  return `import { appendFileSync } from 'node:fs';
export default {
  meta: { name: ${JSON.stringify(pkg)}, version: '1.2.3', namespace: 'acme', apiVersion: ${JSON.stringify(apiVersion)} },
  strategies: [
    {
      kind: 'token-weighter',
      name: ${JSON.stringify(name)},
      optionsSchema: ${JSON.stringify(schema)},
      docs: { summary: 'Weights every response token by 1.' },
      create: () => ({ weights: (input) => { ${record}return input.mask.clone(); } }),
    },
  ],
};
`;
}

/** Writes a module into `dir`; returns its path relative to the working directory of `mmrl()` (the repository root). */
const write = (file: string, text: string) => {
  writeFileSync(join(dir, file), text);
  const rel = relative(ROOT, join(dir, file));
  return rel.startsWith('.') ? rel : `./${rel}`;
};

const marker = join(dir, 'acme-noop-calls.txt');
const acme = write('acme.mjs', pluginSource({ marker }));
const acmeCopy = write('acme-copy.mjs', pluginSource({ pkg: 'mmrl-plugin-acme-copy' }));
const throws = write('throws.mjs', "throw new Error('boom at import');\n");
const notPlugin = write('not-plugin.mjs', 'export default { hello: 1 };\n');
const wrongApi = write('wrong-api.mjs', pluginSource({ apiVersion: '^2.0.0' }));
const brokenSchema = write(
  'broken-schema.mjs',
  pluginSource({ schema: { type: 'object', properties: { beta: { type: 'nubmer' } }, additionalProperties: false } }),
);

/** tiny.yaml's settings for a 1-step RL run, with the plugin's weighter; `plugins` as given. */
function config(plugins: string[] | undefined, weighters = [{ name: 'acme/noop', options: { beta: 0.25 } }]) {
  return tinyPluginConfig({ ...(plugins ? { plugins } : {}), weighters, steps: 1 });
}

// The config sits one directory below the plugin: its `plugins` entries resolve against the config's directory,
// `--plugin` against the working directory (the repository root: tsx must resolve from there).
mkdirSync(join(dir, 'configs'));
const withPluginKey = join(dir, 'configs', 'with-plugin.json');
writeFileSync(withPluginKey, JSON.stringify(config(['../acme.mjs'])));
const withoutPluginKey = join(dir, 'configs', 'without-plugin.json');
writeFileSync(withoutPluginKey, JSON.stringify(config(undefined)));

/** Asserts a failure with exit code 1, one `mmrl: error: plugin "<specifier>": …` line and no stack trace. */
function assertPluginError(r: ReturnType<typeof mmrl>, specifier: string, message: RegExp) {
  assert.equal(r.status, 1, r.stdout + r.stderr);
  const line = r.stderr.split('\n')[0]!;
  assert.ok(line.startsWith(`mmrl: error: plugin "${specifier}": `), r.stderr);
  assert.match(line, message);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

test('mmrl plugins --plugin <file> lists the namespaced strategy and its owner', () => {
  const r = mmrl(['plugins', '--json', '--plugin', acme]);
  assert.equal(r.status, 0, r.stderr);
  const listing = JSON.parse(r.stdout);
  assert.ok(listing.plugins.some((p: { name: string }) => p.name === 'mmrl-plugin-acme'));
  const weighters = listing.kinds.find((k: { kind: string }) => k.kind === 'token-weighter').strategies;
  const noop = weighters.find((s: { id: string }) => s.id === 'acme/noop');
  assert.ok(noop, JSON.stringify(weighters.map((s: { id: string }) => s.id)));
  assert.equal(noop.plugin, 'mmrl-plugin-acme');
  assert.equal(noop.optionsSchema.properties.beta.default, 0.5);
});

test('a config using acme/noop validates with the plugin from the config or from --plugin, and fails without it', () => {
  const fromConfig = mmrl(['validate', withPluginKey]);
  assert.equal(fromConfig.status, 0, fromConfig.stderr);
  assert.match(fromConfig.stdout, /valid/);
  // The same module named twice (config and --plugin) is registered once.
  const both = mmrl(['validate', withPluginKey, '--plugin', acme]);
  assert.equal(both.status, 0, both.stderr);
  const fromCli = mmrl(['validate', withoutPluginKey, '--plugin', acme]);
  assert.equal(fromCli.status, 0, fromCli.stderr);
  const without = mmrl(['validate', withoutPluginKey]);
  assert.equal(without.status, 1);
  assert.match(without.stderr, /\/trainer\/weighters\/0\/name .*unknown token-weighter "acme\/noop"/);
});

test('mmrl train runs one step with the plugin weighter from the config', () => {
  const out = join(dir, 'runs');
  const r = mmrl(['train', withPluginKey, '--out', out, '--name', 'run', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  const rows = readFileSync(join(out, 'run', 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.ok(rows.some((row) => row.phase === 'rl' && row.step === 0), JSON.stringify(rows));
  assert.ok(readFileSync(marker, 'utf8').includes('weights'), 'the plugin weighter was called');
  const recorded = JSON.parse(readFileSync(join(out, 'run', 'config.json'), 'utf8'));
  assert.deepEqual(recorded.config.plugins, ['../acme.mjs']);
  assert.deepEqual(recorded.config.trainer.weighters, [{ name: 'acme/noop', options: { beta: 0.25 } }]);
  assert.equal(recorded.versions['mmrl-plugin-acme'], '1.2.3');
});

test('a module that cannot be loaded fails naming the specifier and the cause', () => {
  const missing = acme.replace('acme.mjs', 'missing.mjs');
  assertPluginError(mmrl(['plugins', '--plugin', missing]), missing, /: cannot load: Cannot find module '.*missing\.mjs'$/);
  assertPluginError(mmrl(['plugins', '--plugin', throws]), throws, /: cannot load: boom at import$/);
});

test('a module whose default export is not a plugin, or a package without a namespace, fails', () => {
  assertPluginError(
    mmrl(['plugins', '--plugin', notPlugin]),
    notPlugin,
    /: not an mmrl plugin \(expected a default export \{ meta, strategies \}\)$/,
  );
  // A package name resolves like an import; the built-ins' empty namespace is refused to a loaded plugin.
  assertPluginError(mmrl(['plugins', '--plugin', '@mmrl/plugins']), '@mmrl/plugins', /: meta\.namespace must be a non-empty/);
});

test('a plugin for another API version fails with the registry message', () => {
  assertPluginError(
    mmrl(['plugins', '--plugin', wrongApi]),
    wrongApi,
    /: Plugin "mmrl-plugin-acme" needs mmrl plugin API \^2\.0\.0, but @mmrl\/core implements 1\.\d+\.\d+$/,
  );
});

test('a plugin with a broken options schema fails naming the strategy (a config entry names its own specifier)', () => {
  const file = join(dir, 'configs', 'broken.json');
  writeFileSync(file, JSON.stringify(config(['../broken-schema.mjs'])));
  assertPluginError(
    mmrl(['validate', file]),
    '../broken-schema.mjs',
    /: Plugin "mmrl-plugin-acme" strategy "token-weighter\/acme\/noop": options schema invalid/,
  );
});

test('two plugins registering the same id fail naming both owners', () => {
  assertPluginError(
    mmrl(['plugins', '--plugin', acme, '--plugin', acmeCopy]),
    acmeCopy,
    /: Duplicate strategy id "token-weighter\/acme\/noop": registered by plugin "mmrl-plugin-acme" and again by plugin "mmrl-plugin-acme-copy"$/,
  );
});

test('mmrl schema prints the composed schema with the plugin strategies; --out writes it', () => {
  const r = mmrl(['schema', '--plugin', acme]);
  assert.equal(r.status, 0, r.stderr);
  const schema = JSON.parse(r.stdout);
  assert.equal(schema.$id, 'urn:mmrl:config');
  assert.equal(schema.title, 'mmrl config');
  assert.ok(r.stdout.includes('"acme/noop"'));
  assert.deepEqual(schema.properties.plugins.default, []);
  // The printed schema is the one configs are validated against: it accepts the config using the plugin.
  const ajv = new Ajv({ allErrors: true, strict: true, useDefaults: true, discriminator: true });
  const validate = ajv.compile(schema);
  assert.ok(validate(config(['../acme.mjs'])), JSON.stringify(validate.errors));
  assert.ok(!validate(config(['../acme.mjs'], [{ name: 'acme/nope', options: { beta: 0.25 } }])));

  const out = join(dir, 'schema', 'mmrl.schema.json');
  const w = mmrl(['schema', '--plugin', acme, '--out', out]);
  assert.equal(w.status, 0, w.stderr);
  assert.ok(existsSync(out));
  assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), schema);
});
