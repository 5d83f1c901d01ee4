import * as tf from '@tensorflow/tfjs';

export const KL_ESTIMATORS = ['k1', 'k2', 'k3', 'abs'] as const;
export type KlEstimator = (typeof KL_ESTIMATORS)[number];

/**
 * Per-token KL penalty between the policy and the reference policy (METHODS.md §5.2; EasyR1 `compute_kl`,
 * verl `kl_penalty_forward`). With δ = ℓref − ℓθ:
 * k1 = ℓθ − ℓref;  k2 = ½(ℓθ − ℓref)²;  k3 ("low_var_kl") = exp(δ) − δ − 1 with δ clamped to [−20, 20] and the
 * result to [−10, 10];  abs = |ℓθ − ℓref|.  Shapes `[N, T]` in, `[N, T]` out (nats).
 */
export function klPenalty(logprobs: tf.Tensor2D, referenceLogprobs: tf.Tensor2D, estimator: KlEstimator): tf.Tensor2D {
  return tf.tidy(() => {
    const diff = tf.sub(logprobs, referenceLogprobs);
    switch (estimator) {
      case 'k1':
        return diff as tf.Tensor2D;
      case 'k2':
        return tf.mul(0.5, tf.square(diff)) as tf.Tensor2D;
      case 'abs':
        return tf.abs(diff) as tf.Tensor2D;
      case 'k3': {
        const delta = tf.clipByValue(tf.neg(diff), -20, 20);
        return tf.clipByValue(tf.sub(tf.sub(tf.exp(delta), delta), 1), -10, 10) as tf.Tensor2D;
      }
    }
  });
}
