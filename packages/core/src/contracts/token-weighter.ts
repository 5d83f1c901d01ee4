import type * as tf from '@tensorflow/tfjs';

/** Batch-level inputs a token weighter reads (shapes: N trajectories, T response tokens). */
export interface WeighterInput {
  /** Token advantages `[N, T]`. */
  advantages: tf.Tensor2D;
  /** Response mask `[N, T]`. */
  mask: tf.Tensor2D;
  /** log πθold `[N, T]`. */
  oldLogprobs: tf.Tensor2D;
  /** Group index `[N]`. */
  groupIndex: Int32Array;
}

/**
 * `token-weighter` kind: returns, without gradient, a non-negative `[N, T]` multiplier on the advantage
 * (METHODS.md §1.3 (a)). Multipliers compose by product in config order.
 */
export interface TokenWeighter {
  weights(input: WeighterInput): tf.Tensor2D;
}
