// The fused layer-norm kernels for webgpu (runtime/fused-layer-norm.ts) on a real WebGPU device (a GPU, or Mesa's
// lavapipe on CPU-only machines such as CI): values and gradients against the same layer norm composed from tfjs ops
// on the same backend, and against a row computed by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClose, deterministicValues as values } from '../numeric.js';
import * as tf from '@tensorflow/tfjs';
import { fusedLayerNorm, hasFusedLayerNorm } from '../../src/runtime/fused-layer-norm.js';
import { composedLayerNorm, layerNorm } from '../../src/model/layers.js';
import { countDispatches, useWebGpu } from './webgpu-backend.js';




test('fused layer norm on webgpu: one row by hand (d = 4)', async (t) => {
  if (!(await useWebGpu(t))) return;
  assert.ok(hasFusedLayerNorm(), 'registered for webgpu by initBackend');
  // x = [1, 2, 3, 6]: μ = 3, variance = (4 + 1 + 0 + 9) / 4 = 3.5, x̂ = (x − 3)/√(3.5 + 1e-5).
  const y = fusedLayerNorm(tf.tensor2d([[1, 2, 3, 6]]), tf.tensor1d([1, 2, 1, 1]), tf.tensor1d([0, 0, 0.5, 0]));
  const r = 1 / Math.sqrt(3.5 + 1e-5);
  assertClose(await y.data(), [-2 * r, -1 * r * 2, 0.5, 3 * r], 1e-6, 'y');
});

test('fused layer norm on webgpu: values and gradients match the composed layer norm (d < and > the workgroup)', async (t) => {
  if (!(await useWebGpu(t))) return;
  for (const shape of [
    [3, 5, 7],
    [70, 130],
    [1, 1, 64],
  ]) {
    const d = shape[shape.length - 1]!;
    const size = shape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(values(size, 1), shape);
    const gamma = tf.tensor1d(values(d, 2));
    const beta = tf.tensor1d(values(d, 3));
    const weights = tf.tensor(values(size, 4), shape); // loss = Σ w · LN(x): a non-uniform upstream gradient
    const lossOf = (ln: typeof layerNorm) => (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(ln(a, g as tf.Tensor1D, b as tf.Tensor1D), weights));
    assertClose(await fusedLayerNorm(x, gamma, beta).data(), await composedLayerNorm(x, gamma, beta).data(), 1e-5, `y ${shape}`);
    const fusedGrads = tf.grads(lossOf(fusedLayerNorm))([x, gamma, beta]);
    const composedGrads = tf.grads(lossOf(composedLayerNorm))([x, gamma, beta]);
    for (const [k, name] of ['dx', 'dγ', 'dβ'].entries()) {
      assertClose(await fusedGrads[k]!.data(), await composedGrads[k]!.data(), 1e-4, `${name} ${shape}`);
    }
    tf.dispose([x, gamma, beta, weights, ...fusedGrads, ...composedGrads]);
  }
});

test('fused layer norm on webgpu: 2 dispatches forward, 3 backward; the model layerNorm uses it', async (t) => {
  if (!(await useWebGpu(t))) return;
  const x = tf.tensor(values(6 * 32, 5), [6, 32]);
  const gamma = tf.tensor1d(values(32, 6));
  const beta = tf.tensor1d(values(32, 7));
  const forward = await countDispatches(() => tf.dispose(layerNorm(x, gamma, beta)));
  const composedForward = await countDispatches(() => tf.dispose(composedLayerNorm(x, gamma, beta)));
  assert.equal(forward, 2);
  const withBackward = await countDispatches(() => tf.dispose(tf.grads((a: tf.Tensor) => tf.sum(layerNorm(a, gamma, beta)))([x])));
  const composedWithBackward = await countDispatches(() =>
    tf.dispose(tf.grads((a: tf.Tensor) => tf.sum(composedLayerNorm(a, gamma, beta)))([x])),
  );
  // + the sum of the loss, its gradient fill, and dx (dγ and dβ are not requested, but computed by the kernel).
  assert.ok(withBackward <= forward + 3 + 3, `forward + backward: ${withBackward}`);
  assert.ok(composedWithBackward >= 2 * withBackward, `composed: ${composedWithBackward} vs fused ${withBackward}`);
  console.log(`dispatches: fused forward ${forward}, composed ${composedForward}; with backward fused ${withBackward}, composed ${composedWithBackward}`);
  tf.dispose([x, gamma, beta]);
});
