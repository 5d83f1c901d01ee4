import * as tf from '@tensorflow/tfjs';
import { Type, type Static } from '@sinclair/typebox';
import { defineStrategy, type TokenWeighter, type WeighterInput } from '@mmrl/core';

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
 * Δlog p token re-weighting (METHODS.md §3.4; "On the Direction of RLVR Updates", arXiv 2603.22117, official code
 * `logp_ray_trainer.py`, `method = reshape_reversed`): low-probability tokens get larger advantages,
 *   p_{i,t} = exp(ℓold_{i,t}),  w_{i,t} = 1 + c·(1 − p_{i,t}) ∈ [1, 1 + c],  Ã = A · w,
 * on all response tokens and both signs of A (L-1), with πθold at the rollout temperature (L-2).
 * Input `oldLogprobs [N, T]`; output a non-negative multiplier `[N, T]` (0 on padding).
 */
export class DeltaLogpTokenWeighter implements TokenWeighter {
  constructor(private readonly options: DeltaLogpOptions) {}

  weights(input: WeighterInput): tf.Tensor2D {
    const { c, variant } = this.options;
    return tf.tidy(() => {
      const p = tf.exp(input.oldLogprobs);
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
      return tf.mul(tf.relu(w), input.mask) as tf.Tensor2D;
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
