import type * as tf from '@tensorflow/tfjs';

/** Denominators over the whole mini-batch, so that a loss does not depend on how it is split (METHODS.md §5.3). */
export interface LossDenominators {
  /** Σ m over the whole mini-batch (valid response tokens). */
  tokens: number;
  /** Number of sequences with at least one valid token in the mini-batch. */
  sequences: number;
  /** Constant length normaliser L_max of seq-mean-token-sum-norm (Dr.GRPO). */
  maxLength: number;
}

/** Tensors given to a policy objective for one (micro-)batch of N sequences and T response tokens. */
export interface ObjectiveInput {
  /** Live log πθ of response tokens `[N, T]` (differentiable). */
  logprobs: tf.Tensor2D;
  /** log πθold of response tokens `[N, T]` (constant). */
  oldLogprobs: tf.Tensor2D;
  /** Token advantages `[N, T]` after token weighting (constant). */
  advantages: tf.Tensor2D;
  /** Response mask `[N, T]` (1 = token contributes). */
  mask: tf.Tensor2D;
  /** log πref `[N, T]` when a KL term is configured. */
  referenceLogprobs?: tf.Tensor2D;
  denominators: LossDenominators;
  /**
   * Ratio overrides of off-policy tokens (METHODS.md §1.3 (b)), already sliced to this micro-batch: on the tokens
   * where `tokens` is 1 the surrogate uses `ratio` (differentiable) instead of exp(ℓθ − ℓold); `clip` says whether
   * the PPO clip applies there. Dual clip never applies to overridden tokens (METHODS.md TG-7). Tokens overlap no
   * two overrides.
   */
  ratioOverrides?: readonly ObjectiveRatioOverride[];
}

/** One ratio override of a micro-batch: `[n, T]` tensors. */
export interface ObjectiveRatioOverride {
  /** 1 on overridden tokens. */
  tokens: tf.Tensor2D;
  /** r̃, differentiable in the live logprobs. */
  ratio: tf.Tensor2D;
  clip: boolean;
}

export interface ObjectiveOutput {
  /** Scalar loss to minimise (its share of the mini-batch loss when given a micro-batch). */
  loss: tf.Scalar;
  /** Scalars for logging (same mini-batch normalisation as the loss). */
  metrics: Record<string, tf.Scalar>;
}

/** `policy-objective` kind: the surrogate loss (METHODS.md §5). */
export interface PolicyObjective {
  /** Whether the objective needs reference-policy logprobs (a KL term). */
  readonly needsReference: boolean;
  /**
   * Whether {@link loss} honours `ratioOverrides`. A run whose token weighters return ratio overrides (TGRL, IVR-R1)
   * refuses an objective without it.
   */
  readonly supportsRatioOverrides?: boolean;
  loss(input: ObjectiveInput): ObjectiveOutput;
}
