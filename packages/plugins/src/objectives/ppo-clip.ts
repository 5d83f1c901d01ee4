import * as tf from '@tensorflow/tfjs';
import { Type, type Static } from '@sinclair/typebox';
import { defineStrategy, type ObjectiveInput, type ObjectiveOutput, type PolicyObjective } from '@mmrl/core';
import { AGGREGATIONS, aggregateLoss } from './aggregation.js';
import { applyRatioOverrides } from './ratio-override.js';
import { KL_ESTIMATORS, klPenalty } from './kl.js';

export const PpoClipOptions = Type.Object(
  {
    clipLow: Type.Number({ minimum: 0, maximum: 1, default: 0.2, description: 'ε_low: ratio clipped below at 1 − ε_low.' }),
    clipHigh: Type.Number({ minimum: 0, default: 0.2, description: 'ε_high: ratio clipped above at 1 + ε_high (DAPO 0.28).' }),
    dualClip: Type.Union([Type.Null(), Type.Number({ exclusiveMinimum: 1 })], {
      default: null,
      description: 'Dual-clip constant c (> 1) bounding the loss of negative-advantage tokens at −A·c; null = off.',
    }),
    aggregation: Type.Union(
      AGGREGATIONS.map((a) => Type.Literal(a)),
      { default: 'seq-mean-token-mean', description: 'Loss aggregation (METHODS.md §5.3, G-6).' },
    ),
    klCoefficient: Type.Number({ minimum: 0, default: 0, description: 'β_KL of the KL loss against the reference policy (0 = no KL).' }),
    klEstimator: Type.Union(
      KL_ESTIMATORS.map((k) => Type.Literal(k)),
      { default: 'k3', description: 'KL estimator: k1, k2, k3 (low_var_kl), abs.' },
    ),
  },
  { additionalProperties: false },
);
export type PpoClipOptions = Static<typeof PpoClipOptions>;

/**
 * PPO clipped surrogate with clip-higher and dual clip (METHODS.md §5.1; TGRL Eqs. 2, 4; EasyR1
 * `compute_policy_loss`), plus an optional KL loss (§5.2) aggregated like the policy-gradient term (§5.3).
 * Per token, with r = exp(clamp(ℓθ − ℓold, −20, 20)):
 *   ℓ1 = −A·r,  ℓ2 = −A·clip(r, 1 − ε_low, 1 + ε_high),  ℓ = max(ℓ1, ℓ2);  dual clip (A < 0): ℓ = min(ℓ, −A·c).
 * loss = agg(ℓ) + β_KL · agg(k).  Inputs `[N, T]`; output a scalar.
 * Ratio overrides (TGRL expert tokens, IVR-R1 rectified tokens; METHODS.md §1.3 (b)) replace r on their tokens: clipped
 * or not as the override says, never dual-clipped (see `applyRatioOverrides`).
 */
export class PpoClipPolicyObjective implements PolicyObjective {
  readonly needsReference: boolean;
  readonly supportsRatioOverrides = true;

  constructor(private readonly options: PpoClipOptions) {
    this.needsReference = options.klCoefficient > 0;
  }

  /** Per-token clipped policy-gradient loss `[N, T]` and the clipped-token indicator `[N, T]`. */
  tokenLoss(logprobs: tf.Tensor2D, oldLogprobs: tf.Tensor2D, advantages: tf.Tensor2D): { loss: tf.Tensor2D; clipped: tf.Tensor2D } {
    return tf.tidy(() => {
      const { clipLow, clipHigh, dualClip } = this.options;
      const ratio = tf.exp(tf.clipByValue(tf.sub(logprobs, oldLogprobs), -20, 20));
      const l1 = tf.neg(tf.mul(advantages, ratio));
      const l2 = tf.neg(tf.mul(advantages, tf.clipByValue(ratio, 1 - clipLow, 1 + clipHigh)));
      let loss = tf.maximum(l1, l2);
      const clipped = tf.cast(tf.greater(l2, l1), 'float32');
      if (dualClip !== null) {
        const bounded = tf.minimum(loss, tf.mul(tf.neg(advantages), dualClip));
        loss = tf.where(tf.less(advantages, 0), bounded, loss);
      }
      return { loss: loss as tf.Tensor2D, clipped: clipped as tf.Tensor2D };
    });
  }

  loss(input: ObjectiveInput): ObjectiveOutput {
    const { aggregation, klCoefficient, klEstimator } = this.options;
    return tf.tidy(() => {
      let { loss: tokenLoss, clipped } = this.tokenLoss(input.logprobs, input.oldLogprobs, input.advantages);
      if (input.ratioOverrides?.length) {
        ({ loss: tokenLoss, clipped } = applyRatioOverrides(
          tokenLoss,
          clipped,
          input.advantages,
          input.ratioOverrides,
          this.options.clipLow,
          this.options.clipHigh,
        ));
      }
      const pgLoss = aggregateLoss(tokenLoss, input.mask, aggregation, input.denominators);
      const metrics: Record<string, tf.Scalar> = {
        pg_loss: pgLoss,
        clip_fraction: aggregateLoss(clipped, input.mask, 'token-mean', input.denominators),
        approx_kl_old: aggregateLoss(
          tf.sub(input.oldLogprobs, input.logprobs) as tf.Tensor2D,
          input.mask,
          'token-mean',
          input.denominators,
        ),
      };
      let loss: tf.Scalar = pgLoss;
      if (klCoefficient > 0) {
        if (!input.referenceLogprobs) {
          throw new Error('ppo-clip: klCoefficient > 0 needs reference-policy logprobs, none were given');
        }
        const kl = aggregateLoss(klPenalty(input.logprobs, input.referenceLogprobs, klEstimator), input.mask, aggregation, input.denominators);
        metrics['kl'] = kl;
        loss = tf.add(pgLoss, tf.mul(kl, klCoefficient));
      }
      metrics['loss'] = loss;
      return { loss, metrics };
    });
  }
}

export const ppoClipObjective = defineStrategy({
  kind: 'policy-objective',
  name: 'ppo-clip',
  optionsSchema: PpoClipOptions,
  docs: {
    summary: 'PPO clipped surrogate (clip-higher, dual clip) with optional KL loss and four aggregation modes.',
    paper: 'PPO (arXiv 1707.06347); DAPO (arXiv 2503.14476) clip-higher; TGRL Eqs. 2, 4',
    equations: 'METHODS.md §5.1–5.3',
  },
  requires: ['logprobs', 'behaviourLogprobs'],
  create: (options) => new PpoClipPolicyObjective(options),
});
