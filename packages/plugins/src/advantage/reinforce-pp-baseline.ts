import { Type } from '@sinclair/typebox';
import { defineStrategy, type AdvantageEstimator, type AdvantageInput } from '@mmrl/core';
import { assertAdvantageShapes, groupsOfAtLeastTwo, maskedWhitenStats, mean, type WhitenStats } from './group-stats.js';

/** REINFORCE++-baseline has no knobs (the whitening ε 1e-8 is fixed, as in verl). */
export const ReinforcePpBaselineOptions = Type.Object({}, { additionalProperties: false });

/**
 * REINFORCE++-baseline (METHODS.md §2.4 and G-4; Hu, "REINFORCE++", arXiv 2501.03262; verl
 * `compute_reinforce_plus_plus_baseline_outcome_advantage`, whitening `masked_whiten`):
 *   a_i = R_i − μ_b                      (μ_b = mean reward of the group of i), broadcast to every token
 *   n = Σ m,  M = Σ m·a / n,  V = [Σ m·(a − M)² / n] · n/(n − 1)
 *   A_{i,t} = (a_i − M) / sqrt(V + 1e-8) · m_{i,t}
 * The whitening is token-weighted (longer responses weigh more in M and V) over the whole batch given to the
 * estimator, not per group. Inputs: rewards `[N]`, group index `[N]`, mask `[N, T]`. Output `[N, T]`, zero on
 * padding; every valid token of a row carries the same value.
 * The last call's whitening statistics (M, V, n) and the centred values are in {@link lastBreakdown}.
 * @throws Error for a group of size 1 (METHODS.md G-3; verl silently uses μ = 0 there), when the batch has
 *   n = Σ m ≤ 1 valid tokens (G-4), or on mismatched input lengths.
 */
export class ReinforcePpBaselineAdvantageEstimator implements AdvantageEstimator {
  /** Intermediates of the last {@link compute} (diagnostics); undefined before the first call. */
  lastBreakdown: ReinforcePpBaselineBreakdown | undefined;

  compute(input: AdvantageInput): Float32Array {
    this.lastBreakdown = reinforcePpBaselineBreakdown(input);
    return this.lastBreakdown.advantages;
  }
}

/** Everything {@link reinforcePpBaselineBreakdown} computes. */
export interface ReinforcePpBaselineBreakdown {
  /** a_i = R_i − μ_b broadcast to every position of row i, `[N, T]` float64 (padding included, ignored). */
  centred: Float64Array;
  /** Whitening mean M = Σ m·a / n. */
  mean: number;
  /** Whitening variance V = [Σ m·(a − M)² / n] · n/(n − 1). */
  variance: number;
  /** n = Σ m. */
  count: number;
  /** A = (a − M) / sqrt(V + 1e-8) · m, `[N, T]` float32. */
  advantages: Float32Array;
}

/**
 * REINFORCE++-baseline with its intermediates (same equations and errors as
 * {@link ReinforcePpBaselineAdvantageEstimator}; METHODS.md §2.4, G-3, G-4).
 */
export function reinforcePpBaselineBreakdown(input: AdvantageInput): ReinforcePpBaselineBreakdown {
  const label = 'REINFORCE++-baseline';
  assertAdvantageShapes(input, label);
  const { rewards, groupIndex, mask, tokens } = input;
  const centred = new Float64Array(mask.length);
  for (const rows of groupsOfAtLeastTwo(groupIndex, label)) {
    const mu = mean(rows.map((r) => rewards[r]!));
    for (const r of rows) centred.fill(rewards[r]! - mu, r * tokens, (r + 1) * tokens);
  }
  const white: WhitenStats = maskedWhitenStats(centred, mask, label);
  return { centred, mean: white.mean, variance: white.variance, count: white.count, advantages: white.whitened };
}

export const reinforcePpBaselineAdvantage = defineStrategy({
  kind: 'advantage-estimator',
  name: 'reinforce-pp-baseline',
  optionsSchema: ReinforcePpBaselineOptions,
  docs: {
    summary: 'REINFORCE++-baseline: reward minus group mean, broadcast to tokens, whitened over all valid tokens of the batch.',
    paper: 'REINFORCE++ (arXiv 2501.03262)',
    equations: 'METHODS.md §2.4',
  },
  create: () => new ReinforcePpBaselineAdvantageEstimator(),
});
