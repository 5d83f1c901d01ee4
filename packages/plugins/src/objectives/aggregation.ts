import * as tf from '@tensorflow/tfjs';
import type { LossDenominators } from '@mmrl/core';

export const AGGREGATIONS = ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum', 'seq-mean-token-sum-norm'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

/**
 * Reduces per-token losses `[N, T]` to this (micro-)batch's share of the mini-batch loss (METHODS.md §5.3):
 * - token-mean:              Σ m·ℓ / Σ m                     (EasyR1 `token`, DAPO)
 * - seq-mean-token-mean:     (1/N) Σ_i Σ_t m·ℓ / Σ_t m       (GRPO paper, TGRL Eq. 24)
 * - seq-mean-token-sum:      (1/N) Σ_i Σ_t m·ℓ               (verl)
 * - seq-mean-token-sum-norm: Σ m·ℓ / (N · L_max)             (Dr.GRPO)
 * The denominators (Σ m, N, L_max) are those of the whole mini-batch, so summing the shares of any split equals
 * the unsplit loss, and padding changes nothing. Sequences with Σ_t m = 0 contribute nothing.
 */
export function aggregateLoss(
  tokenLoss: tf.Tensor2D,
  mask: tf.Tensor2D,
  mode: Aggregation,
  denominators: LossDenominators,
): tf.Scalar {
  return tf.tidy(() => {
    const masked = tf.mul(tokenLoss, mask);
    switch (mode) {
      case 'token-mean':
        return tf.div(tf.sum(masked), Math.max(denominators.tokens, 1)) as tf.Scalar;
      case 'seq-mean-token-mean': {
        const perSeq = tf.div(tf.sum(masked, 1), tf.maximum(tf.sum(mask, 1), 1));
        return tf.div(tf.sum(perSeq), Math.max(denominators.sequences, 1)) as tf.Scalar;
      }
      case 'seq-mean-token-sum':
        return tf.div(tf.sum(masked), Math.max(denominators.sequences, 1)) as tf.Scalar;
      case 'seq-mean-token-sum-norm':
        return tf.div(tf.sum(masked), Math.max(denominators.sequences, 1) * Math.max(denominators.maxLength, 1)) as tf.Scalar;
    }
  });
}
