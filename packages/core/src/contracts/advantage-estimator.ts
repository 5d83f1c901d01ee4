import type { Prompt } from '../rollout/types.js';

/** Input of an advantage estimator. N trajectories, padded response length T. */
export interface AdvantageInput {
  /** Scalar rewards `[N]`. */
  rewards: Float64Array;
  /** Group index of each trajectory `[N]` (trajectories of one prompt share it; 0..numGroups-1). */
  groupIndex: Int32Array;
  /** Response mask `[N, T]` row-major (1 = valid response token). */
  mask: Float32Array;
  /** Padded response length T. */
  tokens: number;
  /** log πθold of each response token `[N, T]` row-major (nats, at the rollout temperature; 0 on padding). */
  oldLogprobs?: Float32Array;
  /**
   * log πref of each response token `[N, T]` row-major (nats, the frozen reference policy at the rollout temperature;
   * 0 on padding). Set by the RL trainer whenever the run has a reference policy, i.e. when the estimator's
   * {@link AdvantageEstimator.needsReference} or the objective's `needsReference` is true.
   */
  referenceLogprobs?: Float32Array;
  /** The prompt of each group: `groupPrompts[g]` for group index g (images for data-centric difficulty, e.g. Durian). */
  groupPrompts?: readonly Prompt[];
}

/**
 * `advantage-estimator` kind: rewards → advantages `[N, T]` (row-major, zero on padding).
 * Implementations are pure CPU arithmetic on small arrays (no tensors).
 */
export interface AdvantageEstimator {
  /**
   * Whether {@link compute} reads `referenceLogprobs` (e.g. REINFORCE++ with KL in the reward, METHODS.md §2.4,
   * §5.2). The trainer then keeps a frozen reference policy (the policy RL starts from) and scores every batch with it.
   * Absent = false.
   */
  readonly needsReference?: boolean;
  /** @throws MmrlConfigError-like Error on an invalid group structure (e.g. a group of size 1 for GRPO). */
  compute(input: AdvantageInput): Float32Array | Promise<Float32Array>;
  /**
   * Numbers about the last {@link compute} call, logged with the RL step (metrics.jsonl keys, prefixed by the
   * estimator's name, e.g. Durian's bucket stds). The trainer calls it once per step, after `compute`. Optional.
   */
  stepMetrics?(): Record<string, number>;
}
