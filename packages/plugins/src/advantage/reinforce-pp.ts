import { Type } from '@sinclair/typebox';
import { defineStrategy, type AdvantageEstimator, type AdvantageInput } from '@mmrl/core';
import { assertAdvantageShapes, maskedWhiten } from './group-stats.js';

export const ReinforcePpOptions = Type.Object(
  {
    gamma: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 1,
      description: 'Discount γ of the token return G_t = Σ_{k≥t} γ^{k−t} ρ_k (METHODS.md §2.4; EasyR1/verl default 1).',
    }),
  },
  { additionalProperties: false },
);

/**
 * Discounted token returns `[N, T]` of an outcome reward (METHODS.md §2.4; EasyR1
 * `compute_reinforce_plus_plus_outcome_advantage`): the token reward ρ_{i,t} is R_i on the last valid token of row i
 * (largest t with m_{i,t} ≠ 0) and 0 elsewhere, and, scanning t = T−1 … 0,
 *   running = ρ_{i,t} + γ · running,  G_{i,t} = running,  running ← running · m_{i,t}   (reset after EOS).
 * For the usual prefix mask this is G_{i,t} = γ^{t_last − t} · R_i for t ≤ t_last and 0 after it.
 * A row with no valid token has all returns 0.
 */
export function outcomeReturns(rewards: Float64Array, mask: Float32Array, tokens: number, gamma: number): Float64Array {
  const returns = new Float64Array(mask.length);
  for (let i = 0; i < rewards.length; i++) {
    const base = i * tokens;
    let last = -1;
    for (let t = tokens - 1; t >= 0; t--) {
      if (mask[base + t] !== 0) {
        last = t;
        break;
      }
    }
    if (last < 0) continue;
    let running = 0;
    for (let t = tokens - 1; t >= 0; t--) {
      running = (t === last ? rewards[i]! : 0) + gamma * running;
      returns[base + t] = running;
      running *= mask[base + t]!;
    }
  }
  return returns;
}

/**
 * REINFORCE++ without a baseline (METHODS.md §2.4 and G-4; Hu, "REINFORCE++: A Simple and Efficient Approach for
 * Aligning Large Language Models", arXiv 2501.03262; EasyR1 `compute_reinforce_plus_plus_outcome_advantage`):
 *   G_{i,t} = Σ_{k≥t} γ^{k−t} ρ_{i,k}         (ρ = outcome reward on the last valid token, see `outcomeReturns`)
 *   n = Σ m,  M = Σ m·G / n,  V = [Σ m·(G − M)² / n] · n/(n − 1)
 *   A_{i,t} = (G_{i,t} − M) / sqrt(V + 1e-8) · m_{i,t}
 * The whitening is token-weighted and spans the whole batch given to the estimator (all prompts); the group index
 * is not used. Inputs: rewards `[N]`, group index `[N]` (ignored), mask `[N, T]`. Output `[N, T]`, zero on
 * padding. With γ = 1 every valid token of a row carries the same value.
 * @throws Error when the batch has n = Σ m ≤ 1 valid tokens (G-4) or mismatched input lengths.
 */
export class ReinforcePpAdvantageEstimator implements AdvantageEstimator {
  constructor(private readonly options: { gamma: number }) {}

  compute(input: AdvantageInput): Float32Array {
    assertAdvantageShapes(input, 'REINFORCE++');
    const { rewards, mask, tokens } = input;
    return maskedWhiten(outcomeReturns(rewards, mask, tokens, this.options.gamma), mask, 'REINFORCE++');
  }
}

export const reinforcePpAdvantage = defineStrategy({
  kind: 'advantage-estimator',
  name: 'reinforce-pp',
  optionsSchema: ReinforcePpOptions,
  docs: {
    summary: 'REINFORCE++ (no baseline): discounted token returns of the outcome reward, whitened over all valid tokens of the batch.',
    paper: 'REINFORCE++ (arXiv 2501.03262)',
    equations: 'METHODS.md §2.4',
  },
  create: (options) => new ReinforcePpAdvantageEstimator(options),
});
