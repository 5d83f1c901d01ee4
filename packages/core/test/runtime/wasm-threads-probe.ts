/**
 * Child process of wasm-threads.test.ts: selects wasm with the thread count given as argument, runs the kinds of
 * kernel a train step uses (XNNPACK products with and without transposed operands, batched products through mmrl's
 * transposed-matMul fix, a convolution (forward only: wasm has no convolution gradient), softmax and reductions, and
 * the gradients) and prints the thread count and a sha256 of every result's bytes as one JSON line.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { initBackend, wasmThreads } from '../../src/index.js';

await initBackend('wasm', { threads: Number(process.argv[2]) });
const u = (shape: number[], seed: number) => tf.randomUniform(shape, -1, 1, 'float32', seed);
const img = u([4, 28, 28, 3], 5) as tf.Tensor4D;
const kernel = u([3, 3, 3, 16], 6) as tf.Tensor4D;
const loss = (a: tf.Tensor2D, b: tf.Tensor2D, x: tf.Tensor3D, w: tf.Tensor3D): tf.Scalar => {
  const c = tf.matMul(a, b);
  const e = tf.matMul(x, w);
  const f = tf.matMul(x, e, true, false);
  const g = tf.conv2d(img, kernel, 1, 'same');
  return tf.addN([tf.softmax(c).mul(c).sum(), tf.relu(f).sum(), tf.tanh(g).mean(), e.square().sum()]) as tf.Scalar;
};
const vars = [u([257, 300], 1), u([300, 129], 2), u([8, 33, 64], 3), u([8, 64, 50], 4)].map((t, i) => tf.variable(t, true, `v${i}`));
const { value, grads } = tf.variableGrads(() => loss(...(vars as [tf.Variable<tf.Rank.R2>, tf.Variable<tf.Rank.R2>, tf.Variable<tf.Rank.R3>, tf.Variable<tf.Rank.R3>])));
const hashes: string[] = [];
for (const t of [value, ...Object.keys(grads).sort().map((n) => grads[n]!)]) {
  hashes.push(createHash('sha256').update(Buffer.from((await t.data()).buffer)).digest('hex').slice(0, 16));
}
console.log(JSON.stringify({ threads: wasmThreads(), hashes }));
