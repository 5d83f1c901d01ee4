import type * as tf from '@tensorflow/tfjs';
import type { ForwardOutputs, ForwardRequest } from './policy.js';

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
  /**
   * The old policy's forward outputs on this batch (πθold at the rollout temperature): `logprobs` plus whatever the
   * run's weighters asked for through {@link TokenWeighter.forwardRequest} (entropy, hidden states, …).
   */
  forward: ForwardOutputs;
}

/**
 * `token-weighter` kind: returns, without gradient, a non-negative `[N, T]` multiplier on the advantage
 * (METHODS.md §1.3 (a)). Multipliers compose by product in config order.
 */
export interface TokenWeighter {
  /** Extra outputs of the old-policy forward this weighter reads from `input.forward` (computed once per step). */
  readonly forwardRequest?: ForwardRequest;
  /**
   * The multiplier `[N, T]` (≥ 0, no gradient). May be async: a weighter that must read tensor values (e.g. a
   * batch-level quantile) reads them with `await t.data()`, never synchronously (webgpu cannot). Returns a new
   * tensor, which the caller disposes.
   */
  weights(input: WeighterInput): tf.Tensor2D | Promise<tf.Tensor2D>;
}
