import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/runtime/backend.js';

test('wasm kernel fixes: transposed products equal the explicit transpose, Identity shares memory safely', async () => {
  await initBackend('wasm'); // kernel fixes on
  // BatchMatMul with transposed operands (every backward product) against explicitly transposed inputs.
  const a = tf.randomUniform([3, 7, 5], -1, 1, 'float32', 1);
  const b = tf.randomUniform([3, 4, 7], -1, 1, 'float32', 2);
  const viaFlags = tf.matMul(a, b, true, true);
  const explicit = tf.matMul(a.transpose([0, 2, 1]), b.transpose([0, 2, 1]));
  assert.deepEqual(viaFlags.shape, [3, 5, 4]);
  assert.deepEqual(Array.from(await viaFlags.data()), Array.from(await explicit.data()));

  // Identity (tf.clone) by reference: the same values, one buffer, and each handle outlives the other's disposal.
  const before = tf.memory().numDataBuffers;
  const x = tf.tensor1d([1, 2, 3]);
  const y = tf.clone(x);
  assert.equal(tf.memory().numDataBuffers - before, 1, 'no second buffer for the clone');
  x.dispose();
  assert.deepEqual(Array.from(await y.data()), [1, 2, 3]);
  y.dispose();
  assert.equal(tf.memory().numDataBuffers, before, 'the buffer is freed with its last reference');

  // A variable initialised from a clone and then assigned keeps the clone's source intact.
  const source = tf.tensor1d([4, 5]);
  const v = tf.variable(tf.clone(source));
  v.assign(tf.tensor1d([6, 7]));
  assert.deepEqual(Array.from(await source.data()), [4, 5]);
  assert.deepEqual(Array.from(await v.data()), [6, 7]);

  // Gradients through tf.fused.matMul (whose customGrad clones what it saves) are unchanged.
  const w = tf.variable(tf.randomUniform([5, 3], -1, 1, 'float32', 3));
  const bias = tf.variable(tf.randomUniform([3], -1, 1, 'float32', 4));
  const xs = tf.randomUniform([6, 5], -1, 1, 'float32', 5);
  const fused = tf.variableGrads(() => tf.fused.matMul({ a: xs as tf.Tensor2D, b: w, bias }).square().sum() as tf.Scalar, [w, bias]);
  const plain = tf.variableGrads(() => tf.add(tf.matMul(xs, w), bias).square().sum() as tf.Scalar, [w, bias]);
  for (const name of [w.name, bias.name]) {
    const f = await fused.grads[name]!.data();
    const p = await plain.grads[name]!.data();
    for (let i = 0; i < f.length; i++) assert.ok(Math.abs(f[i]! - p[i]!) <= 1e-5 * (1 + Math.abs(p[i]!)), `${name}[${i}]`);
  }
});
