import * as tf from '@tensorflow/tfjs';
import { Type, type Static } from '@sinclair/typebox';
import { defineStrategy, type SequenceBatch, type TokenWeighter, type WeighterInput } from '@mmrl/core';
import { blackenPatches } from './perturb.js';

export const VppoOptions = Type.Object(
  {
    patchSize: Type.Integer({
      minimum: 1,
      default: 14,
      description: 'Side in pixels of the square patches of the perturbed image (official code: 14).',
    }),
    blackProbability: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.5,
      description: 'Probability that a patch of the perturbed image is blackened (official code: 0.5).',
    }),
    maxDependency: Type.Number({
      exclusiveMinimum: 0,
      default: 10,
      description: 'Upper clamp of the per-token visual dependency k3(ℓaug − ℓold) (official code: 10).',
    }),
    topTokenFraction: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1,
      default: 0.4,
      description:
        'TGF: each response keeps the ⌈fraction·T_i⌉ tokens of highest visual dependency, the others get multiplier 0 (top_p_perception_tokens = 0.4; 1 keeps every token).',
    }),
    betaMin: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.9,
      description:
        'TAS: lower end β_min of the trajectory advantage factor; β_max = β_min + (1 − β_min)/(mean ŝ + 1e-8) (advantage_scaling_min = 0.9; 1 turns TAS off).',
    }),
  },
  { additionalProperties: false },
);
export type VppoOptions = Static<typeof VppoOptions>;

/** TGF and TAS of one batch, from the per-token dependency (see {@link vppoMultiplier}). */
export interface VppoWeights {
  /** The advantage multiplier `[N·T]` row-major: `factor_i · tgf_{i,t} · m_{i,t}`. */
  multiplier: Float32Array;
  /** TGF token mask `[N·T]`: 1 on the kept tokens. */
  tokenMask: Float32Array;
  /** TAS factor per row `[N]` (1 for a row without tokens, or when TAS does not apply to the batch). */
  factors: Float64Array;
  /** Response score s_i = mean_t k3 per row `[N]` (0 for a row without tokens). */
  scores: Float64Array;
}

/**
 * Per-token visual dependency `clamp(k3(ℓaug − ℓold), 0, max)` with `k3(δ) = exp(δ) − δ − 1` and `δ` clamped to
 * [−20, 20] (the `low_var_kl` of EasyR1/verl). Inputs and output `[N, T]`; a new tensor.
 */
export function visualDependency(augLogprobs: tf.Tensor2D, oldLogprobs: tf.Tensor2D, maxDependency = 10): tf.Tensor2D {
  return tf.tidy(() => {
    const delta = tf.clipByValue(tf.sub(augLogprobs, oldLogprobs), -20, 20);
    return tf.clipByValue(tf.sub(tf.sub(tf.exp(delta), delta), 1), 0, maxDependency) as tf.Tensor2D;
  });
}

/** Tokens TGF keeps of a response of `length` tokens: ⌈fraction·length⌉ (1e-9 absorbs float error: 15·0.4 = 6.000000000000001). */
export function keptTokens(length: number, fraction: number): number {
  return Math.min(length, Math.max(0, Math.ceil(length * fraction - 1e-9)));
}

/**
 * TGF and TAS (METHODS.md §8; official code `dp_actor.py`, `use_vppo_on_perception` and `use_advantage_shaping`)
 * from the per-token dependency `k3` and the response mask `m`, both `[N, T]` row-major:
 *
 * - TGF: row i keeps its `⌈topTokenFraction · T_i⌉` tokens of largest `k3` (ties: the earlier token), `T_i = Σ_t m`.
 * - TAS: `s_i = Σ_t k3·m / T_i`; with the smallest and largest `s` of the rows that have tokens (at least two rows, and
 *   max − min > 1e-6, else every factor is 1): `ŝ_i = clamp((s_i − min)/(max − min), 0, 1)`,
 *   `β_max = β_min + (1 − β_min)/(mean_i ŝ_i + 1e-8)`, `factor_i = β_min + ŝ_i (β_max − β_min)`.
 * - multiplier `= factor_i · tgf_{i,t} · m_{i,t}`.
 *
 * The official code takes min and max over the PPO mini-batch and the mean of ŝ over the update micro-batch; here all
 * three are over the rollout batch the weighter sees (the same when one update uses the whole batch, the recipe's
 * `ppoEpochs: 1, miniBatches: 1`).
 */
export function vppoMultiplier(
  k3: ArrayLike<number>,
  mask: ArrayLike<number>,
  rows: number,
  tokens: number,
  { topTokenFraction, betaMin }: Pick<VppoOptions, 'topTokenFraction' | 'betaMin'>,
): VppoWeights {
  const tokenMask = new Float32Array(rows * tokens);
  const scores = new Float64Array(rows);
  const lengths = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const valid: number[] = [];
    let sum = 0;
    for (let t = 0; t < tokens; t++) {
      if (mask[i * tokens + t]! > 0) {
        valid.push(t);
        sum += k3[i * tokens + t]!;
      }
    }
    lengths[i] = valid.length;
    scores[i] = sum / Math.max(valid.length, 1);
    valid.sort((a, b) => k3[i * tokens + b]! - k3[i * tokens + a]! || a - b);
    for (const t of valid.slice(0, keptTokens(valid.length, topTokenFraction))) tokenMask[i * tokens + t] = 1;
  }

  const factors = new Float64Array(rows).fill(1);
  const scored = [...Array(rows).keys()].filter((i) => lengths[i]! > 0);
  if (scored.length > 1) {
    const min = Math.min(...scored.map((i) => scores[i]!));
    const max = Math.max(...scored.map((i) => scores[i]!));
    if (max - min > 1e-6) {
      const normalised = scored.map((i) => Math.min(1, Math.max(0, (scores[i]! - min) / (max - min))));
      const mean = normalised.reduce((a, b) => a + b, 0) / normalised.length;
      const betaMax = betaMin + (1 - betaMin) / (mean + 1e-8);
      scored.forEach((i, k) => (factors[i] = betaMin + normalised[k]! * (betaMax - betaMin)));
    }
  }

  const multiplier = new Float32Array(rows * tokens);
  for (let i = 0; i < rows; i++) {
    for (let t = 0; t < tokens; t++) {
      multiplier[i * tokens + t] = factors[i]! * tokenMask[i * tokens + t]! * (mask[i * tokens + t]! > 0 ? 1 : 0);
    }
  }
  return { multiplier, tokenMask, factors, scores };
}

/** Rows per forward pass of the perturbed batch (the trainer scores the old policy in chunks of the same size). */
const FORWARD_CHUNK = 256;

/** Rows `start … start + size − 1` of a batch (the whole batch when it has no more rows). */
function sliceRows(batch: SequenceBatch, start: number, size: number): SequenceBatch {
  if (start === 0 && size === batch.images.shape[0]) return batch;
  const rows2d = (t: tf.Tensor2D) => tf.slice(t, [start, 0], [size, -1]) as tf.Tensor2D;
  return {
    images: tf.slice(batch.images, [start, 0, 0], [size, -1, -1]) as tf.Tensor3D,
    promptTokens: rows2d(batch.promptTokens),
    promptMask: rows2d(batch.promptMask),
    responseTokens: rows2d(batch.responseTokens),
    responseMask: rows2d(batch.responseMask),
  };
}

/**
 * VPPO token weighter (METHODS.md §8; "Spotlight on Token Perception for Multimodal Reinforcement Learning", official
 * code huaixuheqing/VPPO-RL `verl/workers/actor/dp_actor.py` and `verl/workers/perc_utils.py`): one extra forward pass of the old policy on a perturbed
 * image gives each response token's visual dependency `k3(ℓaug − ℓold)`; TGF keeps the most visually dependent 40%
 * of each response's tokens and TAS scales each trajectory's advantage by how visually dependent it is on average.
 *
 * Inputs: `oldLogprobs` and `mask` `[N, T]`, and from the trainer `policy`, `batch`, `temperature` and `seed`
 * (ℓaug: `policy.forward` on the batch with random patches of the images blackened, seeded from `seed`, at the
 * rollout temperature). Output: the non-negative multiplier `[N, T]` of {@link vppoMultiplier}, 0 on padding.
 */
export class VppoTokenWeighter implements TokenWeighter {
  constructor(private readonly options: VppoOptions) {}

  async weights(input: WeighterInput): Promise<tf.Tensor2D> {
    const { policy, batch } = input;
    if (!policy || !batch) {
      throw new Error('vppo: the weighter needs input.policy and input.batch (set by the mmrl RL trainer) for the perturbed-image forward pass');
    }
    const { patchSize, blackProbability, maxDependency } = this.options;
    const [rows, tokens] = input.mask.shape;
    const dependency = tf.tidy(() => {
      const images = blackenPatches(batch.images, { patchSize, probability: blackProbability, seed: input.seed ?? 0 });
      const perturbed: SequenceBatch = { ...batch, images };
      const forward = (b: SequenceBatch) => policy.forward(b, { temperature: input.temperature ?? 1 }).logprobs;
      // Rows in chunks, as the trainer's own old-policy forward does, so that a large batch fits in memory.
      const chunks: tf.Tensor2D[] = [];
      for (let start = 0; start < rows; start += FORWARD_CHUNK) chunks.push(forward(sliceRows(perturbed, start, Math.min(FORWARD_CHUNK, rows - start))));
      const augLogprobs = chunks.length === 1 ? chunks[0]! : (tf.concat(chunks, 0) as tf.Tensor2D);
      return visualDependency(augLogprobs, input.oldLogprobs, maxDependency);
    });
    let k3: Float32Array;
    let mask: Float32Array;
    try {
      [k3, mask] = (await Promise.all([dependency.data(), input.mask.data()])) as [Float32Array, Float32Array];
    } finally {
      dependency.dispose();
    }
    return tf.tensor2d(vppoMultiplier(k3, mask, rows, tokens, this.options).multiplier, [rows, tokens]);
  }
}

export const vppoWeighter = defineStrategy({
  kind: 'token-weighter',
  name: 'vppo',
  optionsSchema: VppoOptions,
  docs: {
    summary:
      'VPPO: visual dependency k3(ℓaug − ℓold) from a forward pass on a patch-blackened image; keeps the top 40% tokens per response (TGF) and scales each trajectory by its mean dependency (TAS).',
    paper: 'Spotlight on Token Perception for Multimodal Reinforcement Learning (VPPO; code: huaixuheqing/VPPO-RL)',
    equations: 'METHODS.md §8 (VPPO); official code dp_actor.py (use_vppo_on_perception, use_advantage_shaping)',
  },
  requires: ['logprobs'],
  create: (options) => new VppoTokenWeighter(options),
});
