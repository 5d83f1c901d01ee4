import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Type } from '@sinclair/typebox';
import {
  StrategyRegistry,
  MetricsWriter,
  RlTrainer,
  createRunContainer,
  definePlugin,
  defineStrategy,
  initBackend,
  loadConfigFile,
  mergeForwardRequests,
  validateConfig,
  type TokenWeighter,
  type WeighterInput,
} from '@mmrl/core';
import builtins from '@mmrl/plugins';
import { ROOT } from './helpers.js';

/** A weighter that asks for entropy and hidden states and records what it was given. */
const seen: { entropy?: number[]; hidden?: number[]; rows?: number }[] = [];
const probe = defineStrategy({
  kind: 'token-weighter',
  name: 'forward-probe',
  optionsSchema: Type.Object({}, { additionalProperties: false }),
  docs: { summary: 'test probe' },
  requires: ['entropy', 'hiddenStates'],
  create: (): TokenWeighter => ({
    forwardRequest: { entropy: true, hiddenStates: true },
    weights: (input: WeighterInput) => {
      seen.push({
        ...(input.forward.entropy ? { entropy: input.forward.entropy.shape } : {}),
        ...(input.forward.hiddenStates ? { hidden: input.forward.hiddenStates.shape } : {}),
        rows: input.advantages.shape[0],
      });
      return tf.onesLike(input.advantages);
    },
  }),
});

test('token weighters compose in config order and get the old-policy forward outputs they request', async () => {
  await initBackend('wasm');
  const registry = new StrategyRegistry()
    .use(builtins)
    .use(definePlugin({ meta: { name: 'probe', version: '0.0.0', namespace: 'test', apiVersion: '^1.0.0' }, strategies: [probe] }));
  const { config, baseDir } = await loadConfigFile(registry, join(ROOT, 'test/fixtures/tiny.yaml'));
  config.trainer.steps = 2;
  config.trainer.weighters = [
    { name: 'delta-logp', options: { c: 0.2, variant: 'reshape-reversed' } },
    { name: 'test/forward-probe', options: {} },
  ];
  const container = await createRunContainer(registry, config, { baseDir });
  const before = tf.memory().numTensors;
  const summary = await new RlTrainer(container, { metrics: new MetricsWriter(null) }).train();
  assert.equal(summary.steps, 2);
  assert.equal(seen.length, 2);
  for (const s of seen) {
    assert.equal(s.entropy!.length, 2);
    assert.equal(s.entropy![0], s.rows);
    assert.deepEqual(s.hidden!.slice(0, 2), s.entropy);
    assert.equal(s.hidden![2], 16); // dModel of the tiny config
  }
  assert.equal(tf.memory().numTensors, before, 'no leaks');
});

test('forward requests merge; conflicting top-p values are refused', () => {
  assert.deepEqual(mergeForwardRequests([{ entropy: true }, undefined, { topPEntropy: 0.95, entropy: false }]), {
    entropy: true,
    topPEntropy: 0.95,
  });
  assert.throws(() => mergeForwardRequests([{ topPEntropy: 0.9 }, { topPEntropy: 0.95 }]), /p = 0.9 and p = 0.95/);
});

test('VGPO, ToR and Δlog p together: 2 training steps end to end', async () => {
  await initBackend('wasm');
  const registry = new StrategyRegistry().use(builtins);
  const { config, baseDir } = await loadConfigFile(registry, join(ROOT, 'test/fixtures/tiny.yaml'));
  config.trainer.steps = 2;
  config.trainer.weighters = [
    { name: 'vgpo', options: {} },
    { name: 'tor', options: {} },
    { name: 'delta-logp', options: {} },
  ];
  // Fill each weighter's option defaults through the schema, as a config file would.
  const resolved = validateConfig(registry, JSON.parse(JSON.stringify(config)));
  const container = await createRunContainer(registry, resolved, { baseDir });
  const rows: Record<string, unknown>[] = [];
  const summary = await new RlTrainer(container, { metrics: { write: (r: Record<string, unknown>) => rows.push(r) } as unknown as MetricsWriter }).train();
  assert.equal(summary.steps, 2);
  for (const r of rows.filter((x) => x['phase'] === 'rl')) {
    assert.ok(Number.isFinite(r['loss'] as number) && Number.isFinite(r['grad_norm'] as number), JSON.stringify(r));
  }
});
