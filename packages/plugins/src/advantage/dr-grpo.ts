import { Type } from '@sinclair/typebox';
import { defineStrategy, type AdvantageEstimator, type AdvantageInput } from '@mmrl/core';
import { assertAdvantageShapes, broadcastToTokens, groupsOfAtLeastTwo, mean } from './group-stats.js';

/** Dr.GRPO has no knobs: the estimator is GRPO without the std division. */
export const DrGrpoOptions = Type.Object({}, { additionalProperties: false });

/**
 * Dr.GRPO advantage (METHODS.md §2.2; Liu et al., "Understanding R1-Zero-Like Training: A Critical Perspective",
 * arXiv 2503.20783; verl `compute_grpo_outcome_advantage(norm_adv_by_std_in_grpo=False)`, TRL
 * `scale_rewards="none"`):
 *   μ_b = mean_i R_i,  A_i = R_i − μ_b  (no division by the group std),  A_{i,t} = A_i · m_{i,t}.
 * Inputs: rewards `[N]`, group index `[N]`, mask `[N, T]`. Output `[N, T]`, zero on padding.
 * This is only half of Dr.GRPO: pair it with the constant-normaliser loss aggregation `seq-mean-token-sum-norm`
 * (METHODS.md §5.3, `ppo-clip` option `aggregation`). A group whose rewards are all equal gets A = 0.
 * @throws Error for a group of size 1 (METHODS.md G-3) or mismatched input lengths.
 */
export class DrGrpoAdvantageEstimator implements AdvantageEstimator {
  compute(input: AdvantageInput): Float32Array {
    assertAdvantageShapes(input, 'Dr.GRPO');
    const { rewards, groupIndex, mask, tokens } = input;
    const sequence = new Float64Array(rewards.length);
    for (const rows of groupsOfAtLeastTwo(groupIndex, 'Dr.GRPO')) {
      const mu = mean(rows.map((r) => rewards[r]!));
      for (const r of rows) sequence[r] = rewards[r]! - mu;
    }
    return broadcastToTokens(sequence, mask, tokens);
  }
}

export const drGrpoAdvantage = defineStrategy({
  kind: 'advantage-estimator',
  name: 'dr-grpo',
  optionsSchema: DrGrpoOptions,
  docs: {
    summary: 'Dr.GRPO advantage: reward minus group mean, no std division; pair with seq-mean-token-sum-norm aggregation.',
    paper: 'Understanding R1-Zero-Like Training (Dr.GRPO, arXiv 2503.20783)',
    equations: 'METHODS.md §2.2',
  },
  create: () => new DrGrpoAdvantageEstimator(),
});
