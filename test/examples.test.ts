import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { StrategyRegistry, checkRequirements, createRunContainer, initBackend, loadConfigFile, POLICY } from '@mmrl/core';
import builtins from '@mmrl/plugins';
import { configPluginRequests, loadPlugins } from '../packages/cli/src/load-plugins.js';
import { ROOT } from './helpers.js';

const registry = new StrategyRegistry().use(builtins);
const configs = readdirSync(join(ROOT, 'examples/configs')).filter((f) => /\.(ya?ml|json)$/.test(f));

test('every example config validates and its requires are met', async () => {
  assert.ok(configs.length >= 4);
  for (const f of configs) {
    const file = join(ROOT, 'examples/configs', f);
    // A config's `plugins` (e.g. vppo.yaml's ../plugin-vppo) are loaded as the CLI loads them.
    const withPlugins = await loadPlugins(new StrategyRegistry().use(builtins), await configPluginRequests(file));
    const { config } = await loadConfigFile(withPlugins, file);
    checkRequirements(withPlugins, config);
  }
});

test('the shipped student checkpoint loads into the student preset', async () => {
  await initBackend('wasm');
  const { config, baseDir } = await loadConfigFile(registry, join(ROOT, 'examples/configs/grpo.yaml'));
  const container = await createRunContainer(registry, config, { baseDir, kinds: ['task', 'policy'] });
  const policy = container.resolve(POLICY);
  await policy.load(join(baseDir, config.init.checkpoint!));
  assert.ok(policy.parameterCount() > 800_000 && policy.parameterCount() < 900_000);
});

for (const file of ['grpo-small.yaml', 'ivr-small.yaml']) {
  test(`the small student of ${file} loads into the small preset with the 43-token vocabulary`, async () => {
    await initBackend('wasm');
    const { config, baseDir } = await loadConfigFile(registry, join(ROOT, 'examples/configs', file));
    const container = await createRunContainer(registry, config, { baseDir, kinds: ['task', 'policy'] });
    const policy = container.resolve(POLICY);
    await policy.load(join(baseDir, config.init.checkpoint!));
    assert.equal(policy.parameterCount(), 127_211);
    assert.equal(policy.tokenizer.size, 43);
  });
}

test('the shipped expert checkpoint loads into the expert preset', async () => {
  await initBackend('wasm');
  const { config, baseDir } = await loadConfigFile(registry, join(ROOT, 'examples/configs/expert.yaml'));
  const container = await createRunContainer(registry, config, { baseDir, kinds: ['task', 'policy'] });
  const policy = container.resolve(POLICY);
  await policy.load(join(ROOT, 'examples/checkpoints/expert'));
  assert.equal(policy.parameterCount(), 2_750_827);
});
