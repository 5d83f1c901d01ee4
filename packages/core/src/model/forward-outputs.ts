import * as tf from '@tensorflow/tfjs';

/**
 * Entropies of next-token distributions, the per-position extras a forward pass can return
 * (`ForwardRequest.entropy`, `ForwardRequest.topPEntropy`). Every function works on wasm and reads no tensor.
 */

/**
 * Checks a nucleus mass.
 * @throws Error unless `0 < topP ≤ 1`.
 */
export function checkTopP(topP: number): void {
  if (!(topP > 0 && topP <= 1)) throw new Error(`topPEntropy: the nucleus mass must be in (0, 1], got ${topP}`);
}

/**
 * Entropy `−Σ_v p_v · log p_v` (nats) of distributions given as log-probabilities over the last axis
 * (e.g. the output of `tf.logSoftmax`). Differentiable.
 * @param logp `[..., V]` finite log-probabilities.
 * @returns `[...]`.
 */
export function entropyFromLogSoftmax(logp: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sub(0, tf.sum(tf.mul(tf.exp(logp), logp), -1)));
}

/**
 * Entropy (nats) of `softmax(logits / temperature)` over the last axis. Differentiable.
 * @param logits `[..., V]`.
 * @returns `[...]`.
 */
export function entropyFromLogits(logits: tf.Tensor, temperature = 1): tf.Tensor {
  if (!(temperature > 0)) throw new Error(`entropy: temperature must be > 0, got ${temperature}`);
  return tf.tidy(() => entropyFromLogSoftmax(tf.logSoftmax(temperature === 1 ? logits : tf.div(logits, temperature))));
}

/**
 * Entropy (nats) of the top-p truncated, renormalised distribution over the last axis: probabilities sorted in
 * descending order, the smallest prefix whose mass reaches `topP` kept (the token that crosses `topP` included,
 * as in the sampler), renormalised to sum 1. `topP = 1` keeps the whole distribution (the full entropy); a tiny
 * `topP` keeps only the most probable token (entropy 0). Not meant to be differentiated (sorted by `tf.topk`).
 * @param logp `[..., V]` log-probabilities (e.g. `tf.logSoftmax(logits / temperature)`).
 * @param topP nucleus mass in (0, 1].
 * @returns `[...]`.
 * @throws Error when `topP` is outside (0, 1].
 */
export function topPEntropyFromLogSoftmax(logp: tf.Tensor, topP: number): tf.Tensor {
  checkTopP(topP);
  if (topP >= 1) return entropyFromLogSoftmax(logp);
  return tf.tidy(() => {
    const v = logp.shape[logp.rank - 1]!;
    const { values: sorted } = tf.topk(tf.exp(logp), v, true); // descending probabilities
    const before = tf.cumsum(sorted, logp.rank - 1, true); // mass of the tokens ranked before each one
    const kept = tf.mul(sorted, tf.cast(tf.less(before, topP), 'float32'));
    const q = tf.div(kept, tf.sum(kept, -1, true));
    const safeLog = tf.log(tf.where(tf.greater(q, 0), q, tf.onesLike(q))); // 0 · log 0 := 0
    return tf.sub(0, tf.sum(tf.mul(q, safeLog), -1)); // 0 − x, not −x: an exact 0 stays +0
  });
}

/**
 * {@link topPEntropyFromLogSoftmax} of `softmax(logits / temperature)`.
 * @param logits `[..., V]`.
 * @returns `[...]`.
 */
export function topPEntropyFromLogits(logits: tf.Tensor, topP: number, temperature = 1): tf.Tensor {
  if (!(temperature > 0)) throw new Error(`topPEntropy: temperature must be > 0, got ${temperature}`);
  checkTopP(topP);
  return tf.tidy(() => topPEntropyFromLogSoftmax(tf.logSoftmax(temperature === 1 ? logits : tf.div(logits, temperature)), topP));
}
