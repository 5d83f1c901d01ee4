import type * as tf from '@tensorflow/tfjs';
import type { ForwardOutputs, ForwardRequest, Policy, SequenceBatch } from './policy.js';
import type { TrajectorySourceTag } from '../rollout/types.js';

/** Per-trajectory facts of one batch row (METHODS.md §1.1). */
export interface RowInfo {
  /** `src_i`: on-policy, expert (TGRL), rectified (IVR-R1), noised. */
  source: TrajectorySourceTag;
  /** Scalar reward R_i. */
  reward: number;
  /** Accuracy R_acc ∈ {0, 1} (TGRL's positive filter reads it). */
  accuracy: number;
  /** T_i: valid response tokens of the row. */
  length: number;
}

/** Batch-level inputs a token weighter reads (shapes: N trajectories, T response tokens). */
export interface WeighterInput {
  /** Token advantages `[N, T]`. */
  advantages: tf.Tensor2D;
  /** Response mask `[N, T]`. */
  mask: tf.Tensor2D;
  /** log πθold `[N, T]` (the policy before this step's update, at the rollout temperature), for every row. */
  oldLogprobs: tf.Tensor2D;
  /** Group index `[N]`. */
  groupIndex: Int32Array;
  /**
   * The old policy's forward outputs on this batch (πθold at the rollout temperature): `logprobs` plus whatever the
   * run's weighters asked for through {@link TokenWeighter.forwardRequest} (entropy, hidden states, …).
   */
  forward: ForwardOutputs;
  /** Per-row facts `[N]`. Always set by the trainer; hand-built inputs (unit tests) may omit them. */
  rows?: readonly RowInfo[];
  /**
   * log-probabilities `[N, T]` of the policy that produced each trajectory (nats): ℓold for on-policy rows, the
   * expert's ℓφ for expert rows (TGRL), 0 for rectified rows (IVR-R1 treats the behaviour probability as 1). The PPO
   * ratio of a token without an override is `exp(ℓθ − behaviour)`. Always set by the trainer.
   */
  behaviourLogprobs?: tf.Tensor2D;
  /**
   * The collated batch and the policy as it was before this step's update, for a weighter that runs an extra forward
   * pass of its own (e.g. VPPO's perturbed image). Call `policy.forward` inside `tf.tidy`, never for gradients.
   * Always set by the trainer.
   */
  batch?: SequenceBatch;
  policy?: Policy;
  /** Rollout (scoring) temperature. */
  temperature?: number;
  /** A seed for this step and weighter (deterministic randomness, e.g. tie-breaking or image perturbations). */
  seed?: number;
}

/**
 * A ratio override (METHODS.md §1.3 (b)): replaces the PPO ratio r = exp(ℓθ − ℓbehaviour) on the tokens of
 * off-policy trajectories by a differentiable r̃ = g(ℓθ) (TGRL: m·ρ·w; IVR-R1: f(πθ)). The trainer slices the
 * `[N, T]` tensors by the rows of each micro-batch and calls {@link ratio} inside the gradient function.
 */
export interface RatioOverride {
  /** `[N, T]`, 1 on the tokens whose ratio this override replaces, else 0 (at most one override per token). */
  tokens: tf.Tensor2D;
  /** Constant `[N, T]` tensors {@link ratio} reads (anchor logprobs, stop-gradient weights…), sliced per micro-batch. */
  constants: Record<string, tf.Tensor2D>;
  /** Whether the PPO clip min(r̃A, clip(r̃, 1−ε_low, 1+ε_high)A) applies to r̃ (TGRL: yes; IVR-R1: no). Dual clip never does. */
  clip: boolean;
  /**
   * r̃ `[n, T]` from the live logprobs `[n, T]` of a micro-batch and the same rows of {@link constants}; must be
   * differentiable in `logprobs` (no data reads). Values on tokens outside {@link tokens} are ignored.
   */
  ratio(logprobs: tf.Tensor2D, constants: Record<string, tf.Tensor2D>): tf.Tensor2D;
  /**
   * Optional `[N, T]` loss mask: tokens with 0 leave the loss and its denominators (TGRL's positive filter: an
   * incorrect expert contributes no gradient, METHODS.md TG-3). The advantage estimator has already used the row.
   */
  lossMask?: tf.Tensor2D;
}

/** What a token weighter returns when it does more than multiply the advantage. */
export interface WeighterOutput {
  /** Non-negative `[N, T]` advantage multiplier (no gradient); absent = 1. */
  multiplier?: tf.Tensor2D;
  /** A ratio override for some tokens. */
  override?: RatioOverride;
}

/**
 * `token-weighter` kind: returns, without gradient, a non-negative `[N, T]` multiplier on the advantage
 * (METHODS.md §1.3 (a)), or a {@link WeighterOutput} with a multiplier and/or a ratio override (§1.3 (b)).
 * Multipliers compose by product in config order; at most one override applies to a token (the trainer throws when
 * two overlap). The trainer applies a multiplier to **every** row, off-policy (expert, rectified) rows included, and
 * the advantage an override token's loss uses is the one after every multiplier; a weighter that should leave
 * off-policy rows alone must return 1 there itself (read {@link WeighterInput.rows}). None of the built-in
 * multipliers does (docs/strategies/README.md, "Multipliers on off-policy rows").
 */
export interface TokenWeighter {
  /** Extra outputs of the old-policy forward this weighter reads from `input.forward` (computed once per step). */
  readonly forwardRequest?: ForwardRequest;
  /**
   * The multiplier `[N, T]` (≥ 0, no gradient) or a {@link WeighterOutput}. May be async: a weighter that must read
   * tensor values (e.g. a batch-level quantile) reads them with `await t.data()`, never synchronously (webgpu
   * cannot). Returned tensors are new; the caller disposes them.
   */
  weights(input: WeighterInput): tf.Tensor2D | WeighterOutput | Promise<tf.Tensor2D | WeighterOutput>;
  /**
   * Optional diagnostics of the last {@link weights} call (plain numbers, e.g. how far the multiplier spreads), written
   * into the step's metrics row; keys should carry the weighter's name as prefix (`vgpo_…`).
   */
  stepMetrics?(): Record<string, number>;
}
