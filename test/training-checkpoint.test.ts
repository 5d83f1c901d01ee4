import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  StrategyRegistry,
  createRunContainer,
  initBackend,
  loadConfigFile,
  loadTrainingCheckpoint,
  saveTrainingCheckpoint,
  optimizerStep,
  collateSequences,
  encodePrompt,
  encodeResponse,
  Rng,
  POLICY,
  TASK,
} from '@mmrl/core';
import builtins from '@mmrl/plugins';
import { ROOT } from './helpers.js';

async function build() {
  const registry = new StrategyRegistry().use(builtins);
  const { config, baseDir } = await loadConfigFile(registry, join(ROOT, 'test/fixtures/tiny.yaml'));
  const c = await createRunContainer(registry, config, { baseDir, kinds: ['task', 'policy'] });
  return { policy: c.resolve(POLICY), task: c.resolve(TASK) };
}

test('training checkpoint: policy, optimizer state, step and RNG restore exactly; written atomically', async () => {
  await initBackend('wasm');
  const a = await build();
  const prompts = a.task.prompts('train', 4, 1);
  const batch = collateSequences(
    prompts.map((p) => ({
      image: p.image,
      promptTokens: encodePrompt(a.policy.tokenizer, p),
      responseTokens: encodeResponse(a.policy.tokenizer, a.task.oracleResponse(p)),
    })),
    a.task.imageShape,
    a.policy.tokenizer.padId,
  );
  const lossFn = (policy: typeof a.policy) => () => ({
    loss: tf.neg(tf.mean(policy.forward(batch).logprobs)) as tf.Scalar,
    metrics: {},
  });
  const optA = tf.train.adam(1e-3);
  for (let i = 0; i < 3; i++) await optimizerStep(optA, a.policy.trainableVariables, lossFn(a.policy), 1);
  const rng = new Rng(5);
  rng.next();
  const dir = join(mkdtempSync(join(tmpdir(), 'mmrl-ckpt-')), 'checkpoint');
  await saveTrainingCheckpoint(dir, a.policy, optA, { step: 3, rng: { order: rng.state() }, config: { x: 1 }, extra: {} });
  assert.deepEqual(readdirSync(join(dir, '..')), ['checkpoint']); // no temporary directory left behind
  // A fresh process-like setup: new policy (different variable names), new optimizer.
  const b = await build();
  const optB = tf.train.adam(1e-3);
  const state = await loadTrainingCheckpoint(dir, b.policy, optB);
  assert.equal(state.step, 3);
  assert.deepEqual(state.config, { x: 1 });
  assert.equal(new Rng(0, state.rng['order']).next(), rng.next());
  // The next update is identical in both.
  await optimizerStep(optA, a.policy.trainableVariables, lossFn(a.policy), 1);
  await optimizerStep(optB, b.policy.trainableVariables, lossFn(b.policy), 1);
  const la = await a.policy.forward(batch).logprobs.data();
  const lb = await b.policy.forward(batch).logprobs.data();
  assert.deepEqual(Array.from(lb), Array.from(la));
  await assert.rejects(loadTrainingCheckpoint(join(dir, 'missing'), b.policy, optB), /cannot read state\.json/);
});
