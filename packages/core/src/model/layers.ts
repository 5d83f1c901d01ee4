import * as tf from '@tensorflow/tfjs';
import { fusedLayerNorm, hasFusedLayerNorm } from '../runtime/fused-layer-norm.js';

/**
 * Small differentiable layers shared by the model files. Every function works on the backends mmrl supports
 * (wasm included: no `tf.gather` in differentiable paths, its gradient needs `UnsortedSegmentSum`).
 */

/**
 * Affine map `x · w + b` over the last axis.
 * @param x `[..., in]` float32.
 * @param w `[in, out]`.
 * @param b `[out]`.
 * @returns `[..., out]`.
 */
export function dense(x: tf.Tensor, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor {
  const inDim = w.shape[0];
  const lead = x.shape.slice(0, -1);
  const x2 = x.rank === 2 ? (x as tf.Tensor2D) : x.reshape([-1, inDim]);
  const y = tf.fused.matMul({ a: x2 as tf.Tensor2D, b: w, bias: b });
  return x.rank === 2 ? y : y.reshape([...lead, w.shape[1]]);
}

/**
 * Layer normalisation over the last axis (Ba et al. 2016): `(x − mean) / sqrt(var + eps) · gamma + beta`, with the
 * population variance. On a backend with the fused kernels (webgpu, runtime/fused-layer-norm.ts) it runs as 2
 * dispatches forward and 3 backward; elsewhere it is composed from tfjs ops.
 * @param x `[..., d]`; `gamma`, `beta` `[d]`.
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps = 1e-5): tf.Tensor {
  if (hasFusedLayerNorm()) return fusedLayerNorm(x, gamma, beta, eps);
  return composedLayerNorm(x, gamma, beta, eps);
}

/** {@link layerNorm} composed from tfjs ops (every backend; the reference for the fused kernels). */
export function composedLayerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps = 1e-5): tf.Tensor {
  const axis = x.rank - 1;
  const mean = tf.mean(x, axis, true);
  const centred = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centred), axis, true);
  return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, eps))), gamma), beta);
}

/** GELU, sigmoid approximation `x · σ(1.702 x)` (two element-wise kernels, registered gradients everywhere). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
}

/**
 * Embedding lookup as `oneHot(ids) · table`, differentiable on every backend.
 * Ids outside `[0, rows)` (e.g. −1) give a zero vector.
 * @param ids `[...]` int32.
 * @param table `[rows, d]`.
 * @returns `[..., d]`.
 */
export function embedOneHot(ids: tf.Tensor, table: tf.Tensor2D): tf.Tensor {
  const [rows, d] = table.shape;
  const flat = ids.reshape([-1]) as tf.Tensor1D;
  const oh = tf.oneHot(flat.toInt(), rows);
  return tf.matMul(oh, table).reshape([...ids.shape, d]);
}

/**
 * Positions of real tokens from a `[N, L]` 0/1 mask: the k-th real token of a row gets position k − 1 … i.e.
 * `cumsum(mask) − 1`, so left padding does not shift positions. Padding before the first real token gets −1
 * (a zero embedding through {@link embedOneHot}). Not differentiable (no gradient is needed).
 * @returns `[N, L]` int32.
 */
export function positionsFromMask(mask: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.sub(tf.cumsum(mask, 1), 1).toInt() as tf.Tensor2D);
}

/**
 * Log-probabilities of chosen ids: `log_softmax(logits / temperature)` gathered at `ids` with a one-hot product
 * (differentiable, no `tf.gather`).
 * @param logits `[..., V]`.
 * @param ids `[...]` int32.
 * @returns `[...]` (nats).
 */
export function tokenLogprobs(logits: tf.Tensor, ids: tf.Tensor, temperature = 1): tf.Tensor {
  const v = logits.shape[logits.rank - 1]!;
  const scaled = temperature === 1 ? logits : tf.div(logits, temperature);
  const logp = tf.logSoftmax(scaled);
  return tf.sum(tf.mul(logp, tf.oneHot(ids.toInt(), v)), -1);
}
