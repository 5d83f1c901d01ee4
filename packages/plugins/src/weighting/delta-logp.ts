import * as tf from '@tensorflow/tfjs';
import { Type, type Static } from '@sinclair/typebox';
import { defineStrategy, type TokenWeighter, type WeighterInput } from '@mmrl/core';
import { mean, std } from '../advantage/group-stats.js';

export const DELTA_LOGP_VARIANTS = ['reshape-reversed', 'reshape', 'normalize', 'middle'] as const;
export type DeltaLogpVariant = (typeof DELTA_LOGP_VARIANTS)[number];

export const DeltaLogpOptions = Type.Object(
  {
    c: Type.Number({
      minimum: 0,
      default: 0.2,
      description: 'Strength c: 0.2 (Qwen2.5-Math-7B run), 0.1 (Qwen3-8B-Base run).',
    }),
    variant: Type.Union(
      DELTA_LOGP_VARIANTS.map((v) => Type.Literal(v)),
      {
        default: 'reshape-reversed',
        description:
          'reshape-reversed: 1 + c·(1 − p) (the paper runs); reshape: c·p + 1 − c; normalize: 1/(1 + c − p); middle: c + p·(1 − p).',
      },
    ),
  },
  { additionalProperties: false },
);
export type DeltaLogpOptions = Static<typeof DeltaLogpOptions>;

/**
 * What Δlog p had to act on in one rollout batch (the input of its mechanism, for `docs/regimes.md`): from the
 * old-policy token probabilities `p`, the weights `w` and the `mask` (flat, same length), over the valid tokens:
 * `dlogp_prob_mean` (mean p), `dlogp_low_prob_fraction` (share with p < 0.5: the tokens it up-weights most),
 * `dlogp_weight_mean`, `dlogp_weight_sd` (population sd: 0 means Δlog p is its host up to a scale),
 * `dlogp_weight_max`. All 0 without valid tokens.
 */
export function deltaLogpStepMetrics(p: ArrayLike<number>, w: ArrayLike<number>, mask: ArrayLike<number>): Record<string, number> {
  const probs: number[] = [];
  const weights: number[] = [];
  for (let i = 0; i < mask.length; i++) {
    if (!(mask[i]! > 0)) continue;
    probs.push(p[i]!);
    weights.push(w[i]!);
  }
  if (probs.length === 0) return { dlogp_prob_mean: 0, dlogp_low_prob_fraction: 0, dlogp_weight_mean: 0, dlogp_weight_sd: 0, dlogp_weight_max: 0 };
  return {
    dlogp_prob_mean: mean(probs),
    dlogp_low_prob_fraction: probs.filter((x) => x < 0.5).length / probs.length,
    dlogp_weight_mean: mean(weights),
    dlogp_weight_sd: std(weights, 'population'),
    dlogp_weight_max: weights.reduce((a, b) => Math.max(a, b), -Infinity),
  };
}

/**
 * Δlog p token re-weighting (METHODS.md §3.4; "On the Direction of RLVR Updates", arXiv 2603.22117, official code
 * `logp_ray_trainer.py`, `method = reshape_reversed`): low-probability tokens get larger advantages,
 *   p_{i,t} = exp(ℓold_{i,t}),  w_{i,t} = 1 + c·(1 − p_{i,t}) ∈ [1, 1 + c],  Ã = A · w,
 * on all response tokens and both signs of A (L-1), with πθold at the rollout temperature (L-2).
 * Input `oldLogprobs [N, T]`; output a non-negative multiplier `[N, T]` (0 on padding). Logs
 * {@link deltaLogpStepMetrics} (one asynchronous read of p and w per call).
 */
export class DeltaLogpTokenWeighter implements TokenWeighter {
  private lastMetrics: Record<string, number> = {};

  constructor(private readonly options: DeltaLogpOptions) {}

  async weights(input: WeighterInput): Promise<tf.Tensor2D> {
    const p = tf.tidy(() => tf.exp(input.oldLogprobs));
    const w = this.weightsOf(p, input.mask);
    const [pData, wData, mData] = await Promise.all([p.data(), w.data(), input.mask.data()]);
    p.dispose();
    this.lastMetrics = deltaLogpStepMetrics(pData, wData, mData);
    return w;
  }

  /** {@link deltaLogpStepMetrics} of the last {@link weights} call (empty before the first). */
  stepMetrics(): Record<string, number> {
    return { ...this.lastMetrics };
  }

  /** The multiplier `[N, T]` of the configured variant from token probabilities `p [N, T]`. */
  private weightsOf(p: tf.Tensor, mask: tf.Tensor2D): tf.Tensor2D {
    const { c, variant } = this.options;
    return tf.tidy(() => {
      let w: tf.Tensor;
      switch (variant) {
        case 'reshape-reversed':
          w = tf.add(1, tf.mul(c, tf.sub(1, p)));
          break;
        case 'reshape':
          w = tf.add(tf.mul(c, p), 1 - c);
          break;
        case 'normalize':
          w = tf.div(1, tf.sub(1 + c, p));
          break;
        case 'middle':
          w = tf.add(c, tf.mul(p, tf.sub(1, p)));
          break;
      }
      return tf.mul(tf.relu(w), mask) as tf.Tensor2D;
    });
  }
}

export const deltaLogpWeighter = defineStrategy({
  kind: 'token-weighter',
  name: 'delta-logp',
  optionsSchema: DeltaLogpOptions,
  docs: {
    summary: 'Δlog p: multiplies each token advantage by 1 + c·(1 − p_old), favouring low-probability tokens.',
    paper: 'On the Direction of RLVR Updates (arXiv 2603.22117)',
    equations: 'METHODS.md §3.4 (reweight block of the official code)',
  },
  requires: ['logprobs'],
  create: (options) => new DeltaLogpTokenWeighter(options),
});
