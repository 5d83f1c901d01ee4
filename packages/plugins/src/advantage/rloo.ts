import { Type } from '@sinclair/typebox';
import { defineStrategy, type AdvantageEstimator, type AdvantageInput } from '@mmrl/core';
import { assertAdvantageShapes, broadcastToTokens, groupsOfAtLeastTwo, mean } from './group-stats.js';

/** RLOO has no knobs. */
export const RlooOptions = Type.Object({}, { additionalProperties: false });

/**
 * RLOO leave-one-out advantage (METHODS.md §2.3; Ahmadian et al., "Back to Basics: Revisiting REINFORCE Style
 * Optimization for Learning from Human Feedback in LLMs", arXiv 2402.14740; Kool et al. 2019; EasyR1/verl
 * `compute_rloo_outcome_advantage`):
 *   A_i = R_i − (1/(G−1)) Σ_{j≠i} R_j  =  G/(G−1) · (R_i − μ_b),  A_{i,t} = A_i · m_{i,t}.
 * The closed form on the right is what is computed (G = group size). Inputs: rewards `[N]`, group index `[N]`,
 * mask `[N, T]`. Output `[N, T]`, zero on padding. A group whose rewards are all equal gets A = 0.
 * @throws Error for a group of size 1 (METHODS.md §2.3, G-3: the leave-one-out mean is undefined; EasyR1 asserts,
 *   verl silently returns A = R) or mismatched input lengths.
 */
export class RlooAdvantageEstimator implements AdvantageEstimator {
  compute(input: AdvantageInput): Float32Array {
    assertAdvantageShapes(input, 'RLOO');
    const { rewards, groupIndex, mask, tokens } = input;
    const sequence = new Float64Array(rewards.length);
    for (const rows of groupsOfAtLeastTwo(groupIndex, 'RLOO')) {
      const g = rows.length;
      const mu = mean(rows.map((r) => rewards[r]!));
      for (const r of rows) sequence[r] = (g / (g - 1)) * (rewards[r]! - mu);
    }
    return broadcastToTokens(sequence, mask, tokens);
  }
}

export const rlooAdvantage = defineStrategy({
  kind: 'advantage-estimator',
  name: 'rloo',
  optionsSchema: RlooOptions,
  docs: {
    summary: 'REINFORCE leave-one-out: reward minus the mean of the other group members, G/(G−1)·(R − μ).',
    paper: 'Back to Basics: Revisiting REINFORCE Style Optimization (RLOO, arXiv 2402.14740)',
    equations: 'METHODS.md §2.3',
  },
  create: () => new RlooAdvantageEstimator(),
});
