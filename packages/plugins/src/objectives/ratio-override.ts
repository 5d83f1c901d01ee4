import * as tf from '@tensorflow/tfjs';
import type { ObjectiveRatioOverride } from '@mmrl/core';

/**
 * Replaces the per-token clipped loss on overridden tokens (METHODS.md §1.3 (b)): with r̃ the override's ratio,
 *   clip = true:  ℓ = max(−A·r̃, −A·clip(r̃, 1 − ε_low, 1 + ε_high))   (TGRL Eqs. 24–25)
 *   clip = false: ℓ = −A·r̃                                            (IVR-R1 policy shaping, METHODS.md §3.6)
 * Dual clip never applies to these tokens (METHODS.md TG-7). Returns the new loss `[N, T]` and clipped indicator.
 * @param loss per-token loss of the plain ratio `[N, T]`; @param clipped its clipped-token indicator `[N, T]`.
 */
export function applyRatioOverrides(
  loss: tf.Tensor2D,
  clipped: tf.Tensor2D,
  advantages: tf.Tensor2D,
  overrides: readonly ObjectiveRatioOverride[],
  clipLow: number,
  clipHigh: number,
): { loss: tf.Tensor2D; clipped: tf.Tensor2D } {
  return tf.tidy(() => {
    let out: tf.Tensor2D = loss;
    let outClipped: tf.Tensor2D = clipped;
    for (const o of overrides) {
      const on = tf.greater(o.tokens, 0);
      const l1 = tf.neg(tf.mul(advantages, o.ratio));
      let l: tf.Tensor = l1;
      let c: tf.Tensor = tf.zerosLike(l1);
      if (o.clip) {
        const l2 = tf.neg(tf.mul(advantages, tf.clipByValue(o.ratio, 1 - clipLow, 1 + clipHigh)));
        l = tf.maximum(l1, l2);
        c = tf.cast(tf.greater(l2, l1), 'float32');
      }
      out = tf.where(on, l, out) as tf.Tensor2D;
      outClipped = tf.where(on, c, outClipped) as tf.Tensor2D;
    }
    return { loss: out, clipped: outClipped };
  });
}
