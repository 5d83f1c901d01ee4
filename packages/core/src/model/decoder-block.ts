import * as tf from '@tensorflow/tfjs';
import { multiHeadAttention, type AttentionWeights, type LayerKv } from './attention.js';
import { dense, gelu, layerNorm } from './layers.js';

/** Parameters of one pre-LN decoder block (d = model width, f = FFN width). */
export interface DecoderBlockWeights extends AttentionWeights {
  /** LayerNorm before attention, `[d]` each. */
  ln1Gamma: tf.Tensor1D;
  ln1Beta: tf.Tensor1D;
  /** LayerNorm before the FFN, `[d]` each. */
  ln2Gamma: tf.Tensor1D;
  ln2Beta: tf.Tensor1D;
  /** FFN `[d, f]`, `[f]`, `[f, d]`, `[d]`. */
  w1: tf.Tensor2D;
  b1: tf.Tensor1D;
  w2: tf.Tensor2D;
  b2: tf.Tensor1D;
}

/**
 * One pre-LN transformer block: `x + attn(LN(x))`, then `x + W2·gelu(W1·LN(x))`.
 * @param x `[S, N, d]` residual stream (sequence-major).
 * @param bias `[S, N, 1, Lk]` attention bias (causal + key padding), see `attentionBias`.
 * @param past cached keys/values of earlier positions (then S = 1).
 * @param emitKv also return the keys/values of all `Lk` positions.
 * @returns the new residual stream `[S, N, d]` (and the keys/values when asked).
 */
export function decoderBlock(
  x: tf.Tensor3D,
  w: DecoderBlockWeights,
  heads: number,
  bias: tf.Tensor4D,
  past?: LayerKv,
  emitKv = false,
): { x: tf.Tensor3D; kv?: LayerKv } {
  const [s, n, d] = x.shape;
  const a = multiHeadAttention(layerNorm(x, w.ln1Gamma, w.ln1Beta) as tf.Tensor3D, w, heads, bias, past, emitKv);
  const h = tf.add(x, a.out).reshape([s * n, d]);
  const f = dense(gelu(dense(layerNorm(h, w.ln2Gamma, w.ln2Beta), w.w1, w.b1)), w.w2, w.b2);
  const out = tf.add(h, f).reshape([s, n, d]) as tf.Tensor3D;
  return a.kv ? { x: out, kv: a.kv } : { x: out };
}
