import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@mmrl/core';

// bench/ is not part of the test project (its tsconfig covers test/ only), so the module is imported by URL, with the
// slice of its types this test uses; `npx tsc -p bench` typechecks bench/ itself.
interface Config {
  vocab: number;
  dModel: number;
  layers: number;
  heads: number;
  ffnDim: number;
  seq: number;
}
interface Model {
  readonly variables: tf.Variable[];
  parameterCount(): number;
  logits(ids: tf.Tensor2D): tf.Tensor2D;
  dispose(): void;
}
interface BenchModelModule {
  BenchTransformer: new (config: Config, seed?: number) => Model;
  TORCH_REFERENCE: Config & { batch: number };
  torchReferenceParameterCount(config: Config): number;
  randomTokenBatch(config: Config, batch: number, seed?: number): { ids: tf.Tensor2D; targets: tf.Tensor2D };
  benchTrainStep(model: Model, optimizer: tf.Optimizer, ids: tf.Tensor2D, targets: tf.Tensor2D): Promise<number>;
}
const { BenchTransformer, TORCH_REFERENCE, benchTrainStep, randomTokenBatch, torchReferenceParameterCount } = (await import(
  new URL('../bench/bench-model.ts', import.meta.url).href
)) as BenchModelModule;

before(async () => {
  await initBackend('wasm');
});

const TINY = { vocab: 16, dModel: 32, layers: 2, heads: 2, ffnDim: 64, seq: 8 };

test('parameter count equals torch-reference.py: V·D + S·D + D·V + L·(4D² + 2DF + 2D)', () => {
  const { batch: _batch, ...config } = TORCH_REFERENCE;
  // torch-reference.py 16 cuda 32 128 128 4: D=128, H=D/32=4, F=4D=512, V=128, S=128, L=4.
  assert.equal(torchReferenceParameterCount(config), 128 * 128 + 128 * 128 + 128 * 128 + 4 * (4 * 128 * 128 + 2 * 128 * 512 + 2 * 128));
  assert.equal(torchReferenceParameterCount(config), 836_608);
  for (const c of [config, TINY]) {
    const model = new BenchTransformer(c, 0);
    assert.equal(model.parameterCount(), torchReferenceParameterCount(c));
    // emb, pos, out + 8 per layer (wq, wk, wv, wo, w1, w2, two LayerNorm gains; no biases).
    assert.equal(model.variables.length, 3 + 8 * c.layers);
    model.dispose();
  }
});

test('one Adam step on a tiny batch lowers the loss; no tensor leaks', async () => {
  const start = tf.memory().numTensors;
  const model = new BenchTransformer(TINY, 3);
  const { ids, targets } = randomTokenBatch(TINY, 4, 5);
  const logits = tf.tidy(() => model.logits(ids));
  assert.deepEqual(logits.shape, [TINY.seq * 4, TINY.vocab]);
  logits.dispose();
  const optimizer = tf.train.adam(1e-2);
  const first = await benchTrainStep(model, optimizer, ids, targets);
  assert.ok(Math.abs(first - Math.log(TINY.vocab)) < 0.1, `initial loss ${first} ≈ ln V`);
  const afterFirst = tf.memory().numTensors; // Adam's moment slots now exist
  const second = await benchTrainStep(model, optimizer, ids, targets);
  assert.ok(second < first, `loss ${second} after one step should be below ${first}`);
  assert.equal(tf.memory().numTensors, afterFirst, 'a train step leaves no tensor behind');
  optimizer.dispose();
  tf.dispose([ids, targets]);
  model.dispose();
  assert.equal(tf.memory().numTensors, start, 'model, batch and optimizer dispose everything');
});
