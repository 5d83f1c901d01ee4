import * as tf from '@tensorflow/tfjs';
import { Type, type Static } from '@sinclair/typebox';
import { defineStrategy, type TokenWeighter, type WeighterInput, type WeighterOutput } from '@mmrl/core';

export const IvrShapingOptions = Type.Object(
  {
    gamma: Type.Number({
      exclusiveMinimum: 0,
      default: 0.1,
      description: 'γ_s of f(p) = p/(p + γ_s) (LUFFY "p_div_p_0.1"; METHODS.md §3.6, I-1).',
    }),
  },
  { additionalProperties: false },
);
export type IvrShapingOptions = Static<typeof IvrShapingOptions>;

/** f(p) = p/(p + γ) of a probability (METHODS.md §3.6; fixture F12). */
export function policyShaping(p: number, gamma: number): number {
  return p / (p + gamma);
}

/**
 * IVR-R1 policy shaping of rectified tokens (IVR-R1 §3.2.2 Step II, Eq. 3.7 unreadable; METHODS.md §3.6 after LUFFY's
 * `compute_token_on_off_policy_loss`, `off_policy_reshape = "p_div_p_0.1"`): a ratio override (§1.3 (b)) on the
 * tokens of `rectified` rows,
 *   r̃ = f(πθ(ô_t | I, q, ô_<t)) = p/(p + γ),  p = exp(ℓθ),  surrogate r̃·A without clipping,
 * so ∂r̃/∂ℓθ = γp/(p + γ)² peaks at p = γ: low-probability corrective tokens get more gradient than under the
 * plain ratio. The live ℓθ are scored under the original prompt (the source stores them so, I-5). On-policy rows
 * keep the host ratio. Returns nothing when the batch has no rectified row.
 * @throws Error when the trainer did not provide `rows`.
 */
export class IvrShapingTokenWeighter implements TokenWeighter {
  constructor(private readonly options: IvrShapingOptions) {}

  weights(input: WeighterInput): WeighterOutput {
    if (!input.rows) throw new Error('ivr-shaping: needs per-row sources; the RL trainer provides them');
    const rectified = input.rows.map((r) => (r.source === 'rectified' ? 1 : 0));
    if (!rectified.some((r) => r === 1)) return {};
    const gamma = this.options.gamma;
    const tokens = tf.tidy(() => tf.mul(input.mask, tf.tensor2d(rectified, [rectified.length, 1])) as tf.Tensor2D);
    return {
      override: {
        tokens,
        constants: {},
        clip: false,
        ratio: (logprobs) =>
          tf.tidy(() => {
            const p = tf.exp(logprobs);
            return tf.div(p, tf.add(p, gamma)) as tf.Tensor2D;
          }),
      },
    };
  }
}

export const ivrShapingWeighter = defineStrategy({
  kind: 'token-weighter',
  name: 'ivr-shaping',
  optionsSchema: IvrShapingOptions,
  docs: {
    summary: 'IVR-R1 policy shaping: rectified tokens train through f(πθ) = p/(p + γ) instead of the clipped ratio.',
    paper: 'IVR-R1 (arXiv 2605.23997); LUFFY (arXiv 2504.14945) policy shaping',
    equations: 'IVR-R1 Eq. 3.7 (text); METHODS.md §3.6, fixture F12',
  },
  requires: ['logprobs', 'rectifiedTrajectories'],
  create: (options) => new IvrShapingTokenWeighter(options),
});
