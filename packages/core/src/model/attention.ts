import * as tf from '@tensorflow/tfjs';
import { fusedAttention, hasFusedAttention } from '../runtime/fused-attention.js';
import { fusedDecodeAttention, hasFusedDecodeAttention } from '../runtime/fused-decode-attention.js';
import { channelMatMul } from './channel-matmul.js';
import { dense } from './layers.js';

/** Large negative logit added to disallowed attention scores (exp underflows to exactly 0). */
export const MASKED_SCORE = -1e9;

/** Parameters of one multi-head self-attention layer (d = model width). */
export interface AttentionWeights {
  /** Query, key, value and output projections `[d, d]`, with biases `[d]`. */
  wq: tf.Tensor2D;
  bq: tf.Tensor1D;
  wk: tf.Tensor2D;
  bk: tf.Tensor1D;
  wv: tf.Tensor2D;
  bv: tf.Tensor1D;
  wo: tf.Tensor2D;
  bo: tf.Tensor1D;
}

/**
 * Keys and values of one layer for the L positions seen so far, in layouts that grow by a cheap outer-axis concat
 * and feed the single-query products of a decoding step directly (see `channelMatMul`).
 */
export type LayerKv = {
  /** Keys `[L, N, heads, dHead]`. */
  k: tf.Tensor4D;
  /** Values `[dHead, L, N, heads]`. */
  v: tf.Tensor4D;
};

/**
 * Additive attention bias `[Sq, N, 1, Lk]` (`[1, N, 1, Lk]`, broadcast over queries, when not causal or Sq = 1): 0 where query i may attend key j, {@link MASKED_SCORE} elsewhere.
 * Queries are the last `Sq` of the `Lk` positions (a KV cache holds the first `Lk − Sq`). With `causal`, query i
 * (absolute position `Lk − Sq + i`) sees keys `j ≤ Lk − Sq + i`; keys whose `keyMask` is 0 (left padding) are never
 * seen. Image keys are always real, so every query sees at least one key.
 * @param keyMask `[N, Lk]` float32, 1 on real positions.
 */
export function attentionBias(keyMask: tf.Tensor2D, queryLength: number, causal: boolean): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, lk] = keyMask.shape;
    const pad = tf.mul(tf.sub(1, keyMask), MASKED_SCORE).reshape([1, n, 1, lk]);
    if (!causal || queryLength === 1) return pad as tf.Tensor4D;
    const offset = lk - queryLength;
    const c = new Float32Array(queryLength * lk);
    for (let i = 0; i < queryLength; i++) {
      for (let j = offset + i + 1; j < lk; j++) c[i * lk + j] = MASKED_SCORE;
    }
    return tf.add(pad, tf.tensor4d(c, [queryLength, 1, 1, lk])) as tf.Tensor4D;
  });
}

/**
 * Attention over C = N·heads channels composed from tfjs ops (the non-wasm layout of {@link multiHeadAttention}
 * without the fused kernels; the reference for runtime/fused-attention.ts): q, k, v as `[C, S, dHead]` (one transpose
 * each), scores q·kᵀ `[C, S, S]` with the transposed operand read in place by the GPU kernel, the bias as
 * `[N, 1, S or 1, S]`. Fewer dispatches than the wasm layout (which exists for XNNPACK's depthwise convolution).
 * @param q `[S, C, dHead]` queries, already scaled by 1/√dHead; `k`, `v` `[S, C, dHead]`.
 * @param bias `[S or 1, N, 1, S]` from {@link attentionBias}.
 * @returns the context `[S, C, dHead]`.
 */
export function composedAttention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, bias: tf.Tensor4D): tf.Tensor3D {
  const [s, c] = q.shape;
  const n = bias.shape[1];
  const channels = (t: tf.Tensor3D) => t.transpose([1, 0, 2]) as tf.Tensor3D;
  const scores = tf.matMul(channels(q), channels(k), false, true).reshape([n, c / n, s, s]);
  const attn = tf.softmax(tf.add(scores, bias.transpose([1, 2, 0, 3]))).reshape([c, s, s]) as tf.Tensor3D;
  return tf.matMul(attn, channels(v)).transpose([1, 0, 2]) as tf.Tensor3D;
}

/**
 * The attention of one KV-cached decoding step composed from tfjs ops (the `past` branch of
 * {@link multiHeadAttention} without the fused kernel; the reference for runtime/fused-decode-attention.ts), reading
 * the cache in its layouts: the scores as an element-wise product and a contiguous sum (cheapest for one query), the
 * context as a `channelMatMul` (a depthwise convolution on wasm) with the values as the large operand.
 * @param q `[N, heads, dHead]` queries of the new position, already scaled by 1/√dHead.
 * @param kAll `[Lk, N, heads, dHead]` keys of all Lk positions, the new one included.
 * @param vAll `[dHead, Lk, N, heads]` values of all Lk positions.
 * @param bias `[1, N, 1, Lk]` from {@link attentionBias}.
 * @returns the context `[N, heads, dHead]`.
 */
export function composedDecodeAttention(q: tf.Tensor3D, kAll: tf.Tensor4D, vAll: tf.Tensor4D, bias: tf.Tensor4D): tf.Tensor3D {
  const [n, heads, dh] = q.shape;
  const lk = kAll.shape[0];
  const c = n * heads;
  // scores[j, c] = Σ_k kAll[j, c, k] · q[c, k].
  const scores = tf.sum(tf.mul(kAll.reshape([lk, c, dh]), q.reshape([1, c, dh])), -1);
  const logits = tf.add(scores.transpose().reshape([1, n, heads, lk]), bias);
  const attn = tf.softmax(logits).reshape([c, lk]).transpose().reshape([lk, c, 1]) as tf.Tensor3D;
  // ctx[k, c] = Σ_j vAll[k, j, c] · attn[j, c]: the large operand is the convolution input, attn the filter.
  return channelMatMul(vAll.reshape([dh, lk, c]), attn).reshape([dh, c]).transpose().reshape([n, heads, dh]) as tf.Tensor3D;
}

/**
 * Multi-head scaled dot-product self-attention over a sequence-major residual stream.
 *
 * Without `past` (training, prefill) all S positions attend causally among themselves; with `past` (a decoding step)
 * S must be 1 and the query attends the cached positions and itself.
 * @param x `[S, N, d]` (already layer-normalised).
 * @param bias `[S or 1, N, 1, Lk]` from {@link attentionBias}, `Lk = S + (past length)`.
 * @param past cached keys/values of earlier positions, or undefined.
 * @param emitKv return the keys/values of all `Lk` positions (for a cache); otherwise `kv` is undefined.
 * @returns `out` `[S, N, d]`.
 */
export function multiHeadAttention(
  x: tf.Tensor3D,
  w: AttentionWeights,
  heads: number,
  bias: tf.Tensor4D,
  past?: LayerKv,
  emitKv = false,
): { out: tf.Tensor3D; kv?: LayerKv } {
  const [s, n, d] = x.shape;
  const dh = d / heads;
  const c = n * heads;
  const x2 = x.reshape([s * n, d]);
  const q = tf.mul(dense(x2, w.wq, w.bq), 1 / Math.sqrt(dh)); // [S·N, d] = [S, C, dHead]
  const k = dense(x2, w.wk, w.bk).reshape([s, n, heads, dh]);
  const v = dense(x2, w.wv, w.bv).reshape([s, n, heads, dh]);
  let ctx: tf.Tensor; // [S·N, d]
  let kv: LayerKv | undefined;
  if (past) {
    if (s !== 1) throw new Error(`multiHeadAttention: a step with a cache takes one query position, got ${s}`);
    const kAll = tf.concat([past.k, k], 0) as tf.Tensor4D; // [Lk, N, heads, dHead]
    const vAll = tf.concat([past.v, v.transpose([3, 0, 1, 2])], 1) as tf.Tensor4D; // [dHead, Lk, N, heads]
    // The fused kernel where registered (webgpu: one dispatch), else tfjs ops.
    const attend = hasFusedDecodeAttention() ? fusedDecodeAttention : composedDecodeAttention;
    ctx = attend(q.reshape([n, heads, dh]) as tf.Tensor3D, kAll, vAll, bias).reshape([n, d]);
    if (emitKv) kv = { k: kAll, v: vAll };
  } else if (tf.getBackend() !== 'wasm') {
    // Fused kernels where registered (webgpu), else batched matMuls: q, k, v are already [S, C, dHead] in memory.
    const attend = hasFusedAttention() ? fusedAttention : composedAttention;
    const asRows = (t: tf.Tensor) => t.reshape([s, c, dh]) as tf.Tensor3D;
    ctx = attend(asRows(q), asRows(k), asRows(v), bias).reshape([s * n, d]);
    if (emitKv) kv = { k: k as tf.Tensor4D, v: v.transpose([3, 0, 1, 2]) as tf.Tensor4D };
  } else {
    // q as [S, dHead, C], k as [dHead, C, S], v as [S, C, dHead] (C = N · heads channels).
    const qX = q.reshape([s, c, dh]).transpose([0, 2, 1]) as tf.Tensor3D;
    const kF = k.transpose([3, 1, 2, 0]).reshape([dh, c, s]) as tf.Tensor3D;
    const scores = channelMatMul(qX, kF).reshape([s, n, heads, s]);
    const attn = tf.softmax(tf.add(scores, bias)).reshape([s, c, s]).transpose([0, 2, 1]) as tf.Tensor3D;
    ctx = channelMatMul(attn, v.reshape([s, c, dh])).reshape([s * n, d]);
    if (emitKv) kv = { k: k as tf.Tensor4D, v: v.transpose([3, 0, 1, 2]) as tf.Tensor4D };
  }
  const out = dense(ctx, w.wo, w.bo).reshape([s, n, d]) as tf.Tensor3D;
  return kv ? { out, kv } : { out };
}
