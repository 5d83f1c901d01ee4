import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  StrategyRegistry,
  MetricsWriter,
  RlTrainer,
  createRunContainer,
  initBackend,
  loadConfigFile,
  runSft,
  POLICY,
  TASK,
} from '@mmrl/core';
import builtins from '@mmrl/plugins';
import { ROOT } from './helpers.js';

test('tensor count stays flat over 100 RL steps and 100 SFT steps (no leaks)', async () => {
  await initBackend('wasm');
  const registry = new StrategyRegistry().use(builtins);
  const { config, baseDir } = await loadConfigFile(registry, join(ROOT, 'test/fixtures/tiny.yaml'));
  config.trainer.steps = 1;
  config.trainer.maxResponseTokens = 8; // short rollouts keep the test fast; truncated rows are fine here
  const container = await createRunContainer(registry, config, { baseDir });
  const policy = container.resolve(POLICY);
  // Warm up once so lazily created kernels' constants exist before counting.
  await new RlTrainer(container, { metrics: new MetricsWriter(null) }).train();
  config.trainer.steps = 100; // the container holds this config object
  const before = tf.memory().numTensors;
  const summary = await new RlTrainer(container, { metrics: new MetricsWriter(null) }).train();
  assert.equal(summary.steps, 100);
  assert.equal(tf.memory().numTensors, before, 'RL steps leaked tensors');
  await runSft(
    policy,
    container.resolve(TASK),
    { steps: 100, batchSize: 4, learningRate: 1e-3, trainPrompts: 16, maxGradNorm: 1, seed: 1 },
    new MetricsWriter(null),
  );
  assert.equal(tf.memory().numTensors, before, 'SFT steps leaked tensors');
});
