import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { PLUGIN_API_VERSION, StrategyRegistry, initBackend, type WeighterInput } from '@mmrl/core';
import { StrategyTester } from '@mmrl/core/testing';
import plugin, { surpriseBoostWeighter, type SurpriseBoostTokenWeighter } from '../src/index.js';

before(async () => {
  await initBackend('wasm');
});

const tester = new StrategyTester();

/**
 * The weighter's multiplier on one hand-made batch: one trajectory of 4 tokens with old-policy probabilities p, the
 * last token padding. Every tensor is disposed (the tester checks for leaks).
 */
async function weightsOf(weighter: SurpriseBoostTokenWeighter, p = [0.9, 0.2, 0.6, 0.05], mask = [1, 1, 1, 0]) {
  const oldLogprobs = tf.tensor2d([p.map(Math.log)]);
  const input: WeighterInput = {
    advantages: tf.ones([1, 4]) as tf.Tensor2D,
    mask: tf.tensor2d([mask]),
    oldLogprobs,
    groupIndex: Int32Array.from([0]),
    forward: { logprobs: oldLogprobs },
  };
  const w = weighter.weights(input);
  const values = Array.from(await w.data());
  tf.dispose([w, input.advantages, input.mask, oldLogprobs]);
  return values;
}

test('the plugin object: meta from package.json, namespace, plugin API', () => {
  const pkg = createRequire(import.meta.url)('../package.json') as { name: string; version: string };
  assert.equal(plugin.meta.name, pkg.name);
  assert.equal(plugin.meta.version, pkg.version);
  assert.equal(plugin.meta.namespace, '{{namespace}}');
  // The registry checks the API version, the options schemas and the ids, exactly as `mmrl` does when it loads it.
  const registry = new StrategyRegistry().use(plugin);
  assert.ok(registry.has('token-weighter', '{{namespace}}/surprise-boost'), `plugin API ${PLUGIN_API_VERSION}`);
});

test('token-weighter/surprise-boost: schema, defaults, invalid options, no leaks, fixtures', async () => {
  await tester.run(surpriseBoostWeighter, {
    defaults: { threshold: 0.5, boost: 0.5 },
    invalid: [
      { options: { threshold: 0 }, error: { path: '/threshold', keyword: 'exclusiveMinimum' } },
      { options: { boost: -1 }, error: { path: '/boost', keyword: 'minimum' } },
      { options: { treshold: 0.5 }, error: { path: '/treshold', keyword: 'additionalProperties' } },
    ],
    create: { exercise: (w) => weightsOf(w) },
    numeric: [
      // p = [0.9, 0.2, 0.6, 0.05], mask [1, 1, 1, 0]: 0.2 < 0.5 is boosted, the padding token gets 0.
      { name: 'defaults', actual: (w) => weightsOf(w), expected: [1, 1.5, 1, 0] },
      { name: 'threshold 0.7, boost 1', options: { threshold: 0.7, boost: 1 }, actual: (w) => weightsOf(w), expected: [1, 2, 2, 0] },
      { name: 'boost 0 is the identity', options: { boost: 0 }, actual: (w) => weightsOf(w), expected: [1, 1, 1, 0] },
    ],
  });
});
