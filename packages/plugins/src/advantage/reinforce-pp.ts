import { Type } from '@sinclair/typebox';
import { defineStrategy, type AdvantageEstimator, type AdvantageInput } from '@mmrl/core';
import { assertAdvantageShapes, maskedWhitenStats } from './group-stats.js';

export const ReinforcePpOptions = Type.Object(
  {
    gamma: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 1,
      description: 'Discount γ of the token return G_t = Σ_{k≥t} γ^{k−t} ρ_k (METHODS.md §2.4; EasyR1/verl default 1).',
    }),
    klCoefficient: Type.Number({
      minimum: 0,
      default: 0,
      description:
        'β_KL of the KL in the reward: ρ_{i,t} −= β_KL·k1_{i,t} with k1 = ℓold − ℓref on every valid token, before the returns (METHODS.md §2.4, §5.2). 0 = off (no reference policy).',
    }),
  },
  { additionalProperties: false },
);

/** Options of {@link reinforcePpBreakdown} and the estimator. */
export interface ReinforcePpSettings {
  gamma: number;
  /** β_KL of the KL in the reward (0 = off). Absent = 0. */
  klCoefficient?: number;
}

/**
 * Outcome token rewards `[N, T]`: ρ_{i,t} = R_i on the last valid token of row i (largest t with m_{i,t} ≠ 0), 0
 * elsewhere; a row with no valid token is all 0 (METHODS.md §2.4; EasyR1 `token_level_scores`).
 */
export function outcomeTokenRewards(rewards: Float64Array, mask: Float32Array, tokens: number): Float64Array {
  const rho = new Float64Array(mask.length);
  for (let i = 0; i < rewards.length; i++) {
    for (let t = tokens - 1; t >= 0; t--) {
      if (mask[i * tokens + t] !== 0) {
        rho[i * tokens + t] = rewards[i]!;
        break;
      }
    }
  }
  return rho;
}

/**
 * Discounted token returns `[N, T]` of token rewards `ρ [N, T]` (METHODS.md §2.4; EasyR1
 * `compute_reinforce_plus_plus_outcome_advantage`): scanning t = T−1 … 0,
 *   running = ρ_{i,t} + γ · running,  G_{i,t} = running,  running ← running · m_{i,t}   (reset after EOS).
 */
export function discountedReturns(tokenRewards: Float64Array, mask: Float32Array, tokens: number, gamma: number): Float64Array {
  if (tokenRewards.length !== mask.length) {
    throw new Error(`REINFORCE++: token rewards have length ${tokenRewards.length}, mask ${mask.length}`);
  }
  const returns = new Float64Array(mask.length);
  const rows = tokens === 0 ? 0 : mask.length / tokens;
  for (let i = 0; i < rows; i++) {
    let running = 0;
    for (let t = tokens - 1; t >= 0; t--) {
      const k = i * tokens + t;
      running = tokenRewards[k]! + gamma * running;
      returns[k] = running;
      running *= mask[k]!;
    }
  }
  return returns;
}

/**
 * Discounted token returns `[N, T]` of an outcome reward (METHODS.md §2.4; EasyR1
 * `compute_reinforce_plus_plus_outcome_advantage`): the token reward ρ_{i,t} is R_i on the last valid token of row i
 * (largest t with m_{i,t} ≠ 0) and 0 elsewhere, and, scanning t = T−1 … 0,
 *   running = ρ_{i,t} + γ · running,  G_{i,t} = running,  running ← running · m_{i,t}   (reset after EOS).
 * For the usual prefix mask this is G_{i,t} = γ^{t_last − t} · R_i for t ≤ t_last and 0 after it.
 * A row with no valid token has all returns 0.
 */
export function outcomeReturns(rewards: Float64Array, mask: Float32Array, tokens: number, gamma: number): Float64Array {
  return discountedReturns(outcomeTokenRewards(rewards, mask, tokens), mask, tokens, gamma);
}

/** Everything {@link reinforcePpBreakdown} computes (float64, `[N, T]` row-major unless stated). */
export interface ReinforcePpBreakdown {
  /** Per-token KL estimate k1 = (ℓold − ℓref)·m (0 on padding; all 0 when the KL in the reward is off). */
  kl: Float64Array;
  /** Token rewards ρ = R on the last valid token − β_KL·k1 on every valid token. */
  tokenRewards: Float64Array;
  /** Discounted returns G. */
  returns: Float64Array;
  /** Whitening mean M = Σ m·G / n (token-weighted, whole batch). */
  mean: number;
  /** Whitening variance V = [Σ m·(G − M)² / n] · n/(n − 1). */
  variance: number;
  /** n = Σ m. */
  count: number;
  /** A = (G − M) / sqrt(V + 1e-8) · m, float32. */
  advantages: Float32Array;
}

/**
 * REINFORCE++ without a baseline, with every intermediate (METHODS.md §2.4, §5.2, G-4; Hu, "REINFORCE++", arXiv
 * 2501.03262; EasyR1 `apply_kl_penalty` + `compute_reinforce_plus_plus_outcome_advantage`):
 *   k1_{i,t}  = (ℓold_{i,t} − ℓref_{i,t}) · m_{i,t}                          (§5.2 k1, "KL in reward")
 *   ρ_{i,t}   = R_i·1[t = t_i] − β_KL · k1_{i,t}                            (t_i = last valid token of row i)
 *   G_{i,t}   = Σ_{k≥t} γ^{k−t} ρ_{i,k}                                    (running return, reset after EOS)
 *   n = Σ m,  M = Σ m·G / n,  V = [Σ m·(G − M)² / n] · n/(n − 1),  A = (G − M) / sqrt(V + 1e-8) · m
 * Shapes: rewards `[N]`, mask / oldLogprobs / referenceLogprobs `[N, T]`; the logprobs are read only when
 * β_KL > 0. ℓold is πθold's log-prob of every row's tokens (the old-policy forward), so at the rollout the policy term
 * of k1 (ℓθ, METHODS.md §5.2) equals ℓold, as in EasyR1, which applies the penalty with `old_log_probs`. This is the
 * REINFORCE++ paper's token reward r_t = 1[t = EOS]·r(x, y) − β·KL(t) with KL(t) = log(π_old(o_t)/π_SFT(o_t)); with
 * γ = 1 it gives G_{i,t} = R_i − β·Σ_{k≥t} k1_{i,k} (equation numbers of the paper not checked here; METHODS.md
 * §2.4 is the spec).
 * @throws Error for mismatched lengths, when β_KL > 0 and `oldLogprobs` or `referenceLogprobs` is missing, or when
 *   the batch has n = Σ m ≤ 1 valid tokens (G-4).
 */
export function reinforcePpBreakdown(input: AdvantageInput, settings: ReinforcePpSettings): ReinforcePpBreakdown {
  const label = 'REINFORCE++';
  assertAdvantageShapes(input, label);
  const { rewards, mask, tokens } = input;
  const beta = settings.klCoefficient ?? 0;
  const tokenRewards = outcomeTokenRewards(rewards, mask, tokens);
  const kl = new Float64Array(mask.length);
  if (beta > 0) {
    const { oldLogprobs, referenceLogprobs } = input;
    if (oldLogprobs === undefined || referenceLogprobs === undefined) {
      throw new Error(
        `${label}: klCoefficient = ${beta} (KL in the reward) needs oldLogprobs and referenceLogprobs [N·T] in the advantage input; the RL trainer provides them`,
      );
    }
    for (const [name, a] of [
      ['oldLogprobs', oldLogprobs],
      ['referenceLogprobs', referenceLogprobs],
    ] as const) {
      if (a.length !== mask.length) throw new Error(`${label}: ${name} has length ${a.length}, expected N·T = ${mask.length}`);
    }
    for (let k = 0; k < mask.length; k++) {
      const m = mask[k]!;
      if (m === 0) continue;
      kl[k] = (oldLogprobs[k]! - referenceLogprobs[k]!) * m;
      tokenRewards[k]! -= beta * kl[k]!;
    }
  }
  const returns = discountedReturns(tokenRewards, mask, tokens, settings.gamma);
  const white = maskedWhitenStats(returns, mask, label);
  return {
    kl,
    tokenRewards,
    returns,
    mean: white.mean,
    variance: white.variance,
    count: white.count,
    advantages: white.whitened,
  };
}

/**
 * REINFORCE++ without a baseline (METHODS.md §2.4 and G-4; Hu, "REINFORCE++: A Simple and Efficient Approach for
 * Aligning Large Language Models", arXiv 2501.03262; EasyR1 `compute_reinforce_plus_plus_outcome_advantage`):
 *   ρ_{i,t} = R_i·1[t = t_i] − β_KL·(ℓold − ℓref)_{i,t}·m_{i,t}   (KL in the reward, §5.2; β_KL = 0 by default)
 *   G_{i,t} = Σ_{k≥t} γ^{k−t} ρ_{i,k}
 *   n = Σ m,  M = Σ m·G / n,  V = [Σ m·(G − M)² / n] · n/(n − 1)
 *   A_{i,t} = (G_{i,t} − M) / sqrt(V + 1e-8) · m_{i,t}
 * The whitening is token-weighted and spans the whole batch given to the estimator (all prompts); the group index
 * is not used. Inputs: rewards `[N]`, group index `[N]` (ignored), mask `[N, T]`, and with β_KL > 0 oldLogprobs and
 * referenceLogprobs `[N, T]` (then {@link needsReference} is true and the trainer keeps a reference policy). Output
 * `[N, T]`, zero on padding. With γ = 1 and β_KL = 0 every valid token of a row carries the same value. The last
 * call's intermediates (k1, ρ, G, M, V, n) are in {@link lastBreakdown}.
 * @throws Error when the batch has n = Σ m ≤ 1 valid tokens (G-4), on mismatched input lengths, or when β_KL > 0
 *   and the logprobs are missing.
 */
export class ReinforcePpAdvantageEstimator implements AdvantageEstimator {
  readonly needsReference: boolean;
  /** Intermediates of the last {@link compute} (diagnostics); undefined before the first call. */
  lastBreakdown: ReinforcePpBreakdown | undefined;

  constructor(private readonly options: ReinforcePpSettings) {
    this.needsReference = (options.klCoefficient ?? 0) > 0;
  }

  compute(input: AdvantageInput): Float32Array {
    this.lastBreakdown = reinforcePpBreakdown(input, this.options);
    return this.lastBreakdown.advantages;
  }
}

export const reinforcePpAdvantage = defineStrategy({
  kind: 'advantage-estimator',
  name: 'reinforce-pp',
  optionsSchema: ReinforcePpOptions,
  docs: {
    summary:
      'REINFORCE++ (no baseline): discounted token returns of the outcome reward (optionally minus β_KL·k1 per token), whitened over all valid tokens of the batch.',
    paper: 'REINFORCE++ (arXiv 2501.03262)',
    equations: 'METHODS.md §2.4, §5.2 (KL in reward)',
  },
  create: (options) => new ReinforcePpAdvantageEstimator(options),
});
