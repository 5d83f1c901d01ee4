// examples/schema/mmrl.schema.json is the composed config schema (built-in strategies + the example plugin
// mmrl-plugin-vppo) that every example config names for editor completion; it must never go stale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { mmrl, ROOT } from './helpers.js';

const SCHEMA = join(ROOT, 'examples/schema/mmrl.schema.json');
const CONFIGS = join(ROOT, 'examples/configs');
const REFERENCE = '../schema/mmrl.schema.json';
const configs = readdirSync(CONFIGS).filter((f) => /\.ya?ml$/.test(f));

test('the committed schema equals the freshly composed one (regenerate with `npm run schema`)', () => {
  // The same command as `npm run schema`, to stdout.
  const r = mmrl(['schema', '--plugin', './examples/plugin-vppo']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(
    readFileSync(SCHEMA, 'utf8') === r.stdout,
    'examples/schema/mmrl.schema.json is stale: run `npm run schema` and commit the result',
  );
});

test('every example config names the schema (yaml-language-server modeline and $schema) and is valid against it', () => {
  assert.ok(configs.length >= 4);
  const validate = new Ajv({ allErrors: true, strict: true, useDefaults: true, discriminator: true }).compile(
    JSON.parse(readFileSync(SCHEMA, 'utf8')),
  );
  for (const f of configs) {
    const text = readFileSync(join(CONFIGS, f), 'utf8');
    assert.equal(text.split('\n')[0], `# yaml-language-server: $schema=${REFERENCE}`, `${f}: first line`);
    const config = parseYaml(text) as Record<string, unknown>;
    assert.equal(config['$schema'], REFERENCE, `${f}: $schema`);
    assert.ok(validate(config), `${f}: ${JSON.stringify(validate.errors)}`);
  }
});
