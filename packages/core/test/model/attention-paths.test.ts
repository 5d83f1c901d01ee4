// multiHeadAttention has two layouts for training and prefill: depthwise-convolution products on wasm (XNNPACK) and
// batched matMuls elsewhere (fewer GPU dispatches). Both must compute the same attention and the same gradients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClose, deterministicValues as values } from '../numeric.js';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/runtime/backend.js';
import { attentionBias, multiHeadAttention, type AttentionWeights } from '../../src/model/attention.js';


/** Output, d(Σ w·out)/dx and d/dWq on the active backend: S = 5 positions, N = 3 rows (one left-padded), d = 8, 2 heads. */
async function attentionOnActiveBackend(): Promise<{ out: Float32Array; dx: Float32Array; dWq: Float32Array }> {
  const [s, n, d, heads] = [5, 3, 8, 2];
  const w: AttentionWeights = {
    wq: tf.tensor2d(values(d * d, 1), [d, d]),
    bq: tf.tensor1d(values(d, 2)),
    wk: tf.tensor2d(values(d * d, 3), [d, d]),
    bk: tf.tensor1d(values(d, 4)),
    wv: tf.tensor2d(values(d * d, 5), [d, d]),
    bv: tf.tensor1d(values(d, 6)),
    wo: tf.tensor2d(values(d * d, 7), [d, d]),
    bo: tf.tensor1d(values(d, 8)),
  };
  const x = tf.tensor3d(values(s * n, 9, 1).flatMap((v, i) => values(d, i + 10, v)), [s, n, d]);
  const keyMask = tf.tensor2d([1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], [n, s]);
  const bias = attentionBias(keyMask, s, true);
  const upstream = tf.tensor3d(values(s * n * d, 11), [s, n, d]);
  const loss = (xIn: tf.Tensor, wq: tf.Tensor) =>
    tf.sum(tf.mul(multiHeadAttention(xIn as tf.Tensor3D, { ...w, wq: wq as tf.Tensor2D }, heads, bias).out, upstream));
  const out = await multiHeadAttention(x, w, heads, bias).out.data();
  const [dx, dWq] = tf.grads(loss)([x, w.wq]);
  return { out: out as Float32Array, dx: (await dx!.data()) as Float32Array, dWq: (await dWq!.data()) as Float32Array };
}

test('multiHeadAttention: the batched-matMul layout (non-wasm backends) equals the wasm layout, values and gradients', async () => {
  await initBackend('wasm');
  const wasm = await attentionOnActiveBackend();
  await initBackend('cpu');
  const cpu = await attentionOnActiveBackend();
  // float32 sums in another order: relative differences of a few 1e-6 (up to 2e-5 seen).
  for (const key of ['out', 'dx', 'dWq'] as const) assertClose(cpu[key], wasm[key], 1e-4, key);
  assert.ok(wasm.dWq.some((v) => Math.abs(v) > 1e-4), 'the query weights get a gradient');
});
