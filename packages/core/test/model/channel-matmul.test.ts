import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, channelMatMul, extractPatches, patchCount } from '../../src/index.js';
import { maxAbsDiff } from './fixtures.js';

before(async () => {
  await initBackend('wasm');
});

/** Reference: y[m, c, n] = Σ_k x[m, k, c] · f[k, c, n] with a plain batched matMul (autodiff gradients). */
function reference(x: tf.Tensor3D, f: tf.Tensor3D): tf.Tensor3D {
  return tf.matMul(x.transpose([2, 0, 1]), f.transpose([1, 0, 2])).transpose([1, 0, 2]) as tf.Tensor3D;
}

test('channelMatMul matches a batched matMul, values and gradients (wasm depthwise path)', async () => {
  assert.equal(tf.getBackend(), 'wasm');
  const x = tf.randomNormal([5, 3, 7], 0, 1, 'float32', 1) as tf.Tensor3D;
  const f = tf.randomNormal([3, 7, 4], 0, 1, 'float32', 2) as tf.Tensor3D;
  const w = tf.randomNormal([5, 7, 4], 0, 1, 'float32', 3);
  const n0 = tf.memory().numTensors;
  const [y, yRef] = tf.tidy(() => [channelMatMul(x, f), reference(x, f)]);
  assert.deepEqual(y!.shape, [5, 7, 4]);
  assert.ok(maxAbsDiff(await y!.data(), await yRef!.data()) < 1e-5, 'values');
  const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(channelMatMul(a as tf.Tensor3D, b as tf.Tensor3D), w)));
  const gRef = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(reference(a as tf.Tensor3D, b as tf.Tensor3D), w)));
  const [dx, df] = g([x, f]);
  const [dxRef, dfRef] = gRef([x, f]);
  assert.ok(maxAbsDiff(await dx!.data(), await dxRef!.data()) < 1e-4, 'dx');
  assert.ok(maxAbsDiff(await df!.data(), await dfRef!.data()) < 1e-4, 'df');
  tf.dispose([y!, yRef!, dx!, df!, dxRef!, dfRef!]);
  assert.equal(tf.memory().numTensors, n0, 'no leak');
  tf.dispose([x, f, w]);
});

test('extractPatches cuts row-major patches; indivisible sizes throw', async () => {
  // 4×6 image, 2×2 patches → 2×3 grid.
  const img = tf.tensor3d(Array.from({ length: 24 }, (_, i) => i), [1, 4, 6]);
  const p = extractPatches(img, 2);
  assert.deepEqual(p.shape, [1, 6, 4]);
  const data = Array.from(await p.data());
  assert.deepEqual(data.slice(0, 4), [0, 1, 6, 7]); // top-left patch
  assert.deepEqual(data.slice(4, 8), [2, 3, 8, 9]); // its right neighbour
  assert.deepEqual(data.slice(12, 16), [12, 13, 18, 19]); // first patch of the second patch row
  assert.equal(patchCount([28, 84], 14), 12);
  assert.throws(() => patchCount([28, 30], 14), /28×30.*14×14/);
  tf.dispose([img, p]);
});
