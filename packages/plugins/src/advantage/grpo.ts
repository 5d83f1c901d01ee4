import { Type } from '@sinclair/typebox';
import { defineStrategy, type AdvantageEstimator, type AdvantageInput } from '@mmrl/core';
import { broadcastToTokens, groupMembers, mean, std } from './group-stats.js';

export const GrpoOptions = Type.Object(
  {
    epsilon: Type.Number({ minimum: 0, default: 1e-6, description: 'ε added to the group std (EasyR1/verl 1e-6, TRL 1e-4).' }),
    std: Type.Union([Type.Literal('unbiased'), Type.Literal('population')], {
      default: 'unbiased',
      description: 'Group std estimator: unbiased (n−1, torch.std; METHODS.md G-1) or population (n).',
    }),
  },
  { additionalProperties: false },
);

/**
 * GRPO group-relative advantage (METHODS.md §2.1; TGRL Eqs. 3 and 16, VGPO §2.1, Durian Eq. 2; EasyR1/verl
 * `compute_grpo_outcome_advantage`):
 *   μ_b = mean_i R_i,  σ_b = std(R_i),  A_i = (R_i − μ_b) / (σ_b + ε),  A_{i,t} = A_i · m_{i,t}.
 * Inputs: rewards `[N]`, group index `[N]`, mask `[N, T]`. Output `[N, T]`.
 * A group whose rewards are all equal gets A = 0.
 * @throws Error for a group of size 1 (METHODS.md G-3: a configuration error, not a silent A = R).
 */
export class GrpoAdvantageEstimator implements AdvantageEstimator {
  constructor(private readonly options: { epsilon: number; std: 'unbiased' | 'population' }) {}

  compute(input: AdvantageInput): Float32Array {
    const { rewards, groupIndex, mask, tokens } = input;
    const sequence = new Float64Array(rewards.length);
    for (const rows of groupMembers(groupIndex)) {
      if (rows.length < 2) {
        throw new Error(
          `GRPO needs at least 2 trajectories per group; group of row ${rows[0]} has 1 (set the samples per prompt ≥ 2)`,
        );
      }
      const values = rows.map((r) => rewards[r]!);
      const mu = mean(values);
      const sigma = std(values, this.options.std);
      for (const r of rows) sequence[r] = (rewards[r]! - mu) / (sigma + this.options.epsilon);
    }
    return broadcastToTokens(sequence, mask, tokens);
  }
}

export const grpoAdvantage = defineStrategy({
  kind: 'advantage-estimator',
  name: 'grpo',
  optionsSchema: GrpoOptions,
  docs: {
    summary: 'Group-relative advantage: reward minus group mean, divided by group std + ε.',
    paper: 'DeepSeekMath (arXiv 2402.03300); TGRL Eqs. 3, 16',
    equations: 'METHODS.md §2.1',
  },
  create: (options) => new GrpoAdvantageEstimator(options),
});
