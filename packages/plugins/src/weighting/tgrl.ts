import * as tf from '@tensorflow/tfjs';
import { Type, type Static } from '@sinclair/typebox';
import { defineStrategy, type RatioOverride, type TokenWeighter, type WeighterInput, type WeighterOutput } from '@mmrl/core';

export const TgrlOptions = Type.Object(
  {
    beta: Type.Number({
      minimum: 0,
      default: 5,
      description: 'β of the discrepancy weight sigmoid(β·Δ̃) (TGRL Eq. 20): 5 with GRPO, 14 with DAPO (Tables 1–2).',
    }),
    epsilon: Type.Number({ exclusiveMinimum: 0, default: 1e-6, description: 'ε of the per-trajectory standardisation (Eq. 19, TG-1).' }),
    std: Type.Union([Type.Literal('unbiased'), Type.Literal('population')], {
      default: 'unbiased',
      description: 'Standard deviation of Eq. 19: unbiased (n − 1, TG-1) or population (n).',
    }),
    reweight: Type.Boolean({
      default: true,
      description: 'Apply the discrepancy weight w (false: w = 1, the "w/o reweight" ablation of TGRL Table 1).',
    }),
    filter: Type.Boolean({
      default: true,
      description: 'Positive trajectory filtering m_i (Eq. 22; false: incorrect experts also train, "w/o filter").',
    }),
  },
  { additionalProperties: false },
);
export type TgrlOptions = Static<typeof TgrlOptions>;

/** Per-token constants of one batch computed by {@link tgrlCoefficients}, row-major `[N·T]`. */
export interface TgrlCoefficients {
  /** Δ̃ (Eq. 19), 0 outside expert tokens. */
  standardized: Float32Array;
  /** w = sigmoid(β·Δ̃) (Eq. 20), or 1 without re-weighting; 0 outside expert tokens. */
  weight: Float32Array;
  /** m_i per row (Eq. 22): 1 for kept experts, 0 for filtered ones, 1 for non-expert rows. */
  keep: Float32Array;
  /** 1 on the valid tokens of expert rows. */
  expertTokens: Float32Array;
}

/**
 * The stop-gradient part of TGRL's token coefficients (TGRL Eqs. 18–20, 22; METHODS.md §3.1, TG-1, TG-2):
 * Δ = ℓφ − ℓold, standardised over the T_i tokens of each expert trajectory, w = sigmoid(β·Δ̃); T_i = 1 or constant Δ
 * give Δ̃ = 0 (w = 0.5). Host arrays, row-major.
 * @param expertLogprobs ℓφ `[N·T]`; @param oldLogprobs ℓold `[N·T]`; @param mask `[N·T]`.
 * @param expertRows which rows are expert trajectories; @param accuracy R_acc per row.
 */
export function tgrlCoefficients(
  expertLogprobs: Float32Array,
  oldLogprobs: Float32Array,
  mask: Float32Array,
  tokens: number,
  expertRows: readonly boolean[],
  accuracy: readonly number[],
  options: TgrlOptions,
): TgrlCoefficients {
  const n = expertRows.length;
  const standardized = new Float32Array(n * tokens);
  const weight = new Float32Array(n * tokens);
  const keep = new Float32Array(n).fill(1);
  const expertTokens = new Float32Array(n * tokens);
  for (let i = 0; i < n; i++) {
    if (!expertRows[i]) continue;
    if (options.filter) keep[i] = accuracy[i] === 1 ? 1 : 0;
    const idx: number[] = [];
    for (let t = 0; t < tokens; t++) if (mask[i * tokens + t]! > 0) idx.push(i * tokens + t);
    if (idx.length === 0) continue;
    const delta = idx.map((k) => expertLogprobs[k]! - oldLogprobs[k]!);
    const mean = delta.reduce((a, d) => a + d, 0) / delta.length;
    const ss = delta.reduce((a, d) => a + (d - mean) ** 2, 0);
    const denom = options.std === 'unbiased' ? delta.length - 1 : delta.length;
    const sd = denom > 0 ? Math.sqrt(ss / denom) : 0;
    idx.forEach((k, j) => {
      // T_i = 1 (no spread defined) or all Δ equal: Δ̃ = 0 (TG-1).
      const z = delta.length < 2 || ss === 0 ? 0 : (delta[j]! - mean) / (sd + options.epsilon);
      standardized[k] = z;
      weight[k] = options.reweight ? 1 / (1 + Math.exp(-options.beta * z)) : 1;
      expertTokens[k] = 1;
    });
  }
  return { standardized, weight, keep, expertTokens };
}

/**
 * TGRL token weighting of expert trajectories (TGRL "Beyond Where to Look", Eqs. 17–25; METHODS.md §3.1, §4.2):
 * a ratio override (§1.3 (b)) on the tokens of `expert` rows,
 *   ρ = exp(ℓθ − ℓφ) (Eq. 17),  Δ̃ = standardise_t(ℓφ − ℓold) (Eqs. 18–19),  w = sigmoid(β·Δ̃) (Eq. 20),
 *   r̃ = m_i · ρ · w (Eqs. 21–23),  surrogate min(r̃Ā, clip(r̃, 1 − ε_low, 1 + ε_high)Ā) (Eqs. 24–25),
 * with w detached (computed from ℓold, TG-2) and the gradient through ρ only. Positive filtering: an incorrect
 * expert (m_i = 0) gets loss mask 0 and leaves the denominators (TG-3); its reward stays in the group statistics.
 * On-policy rows are untouched (their ratio and dual clip are the host's).
 * Inputs: `behaviourLogprobs [N, T]` (ℓφ on expert rows, from the `expert` source), `oldLogprobs [N, T]`, `rows`.
 * @throws Error when the trainer did not provide `rows` or `behaviourLogprobs`.
 */
export class TgrlTokenWeighter implements TokenWeighter {
  constructor(private readonly options: TgrlOptions) {}

  async weights(input: WeighterInput): Promise<WeighterOutput> {
    if (!input.rows || !input.behaviourLogprobs) {
      throw new Error('tgrl: needs per-row sources and behaviour (expert) logprobs; the RL trainer provides them');
    }
    const expertRows = input.rows.map((r) => r.source === 'expert');
    if (!expertRows.some(Boolean)) return {};
    const [n, tokens] = input.mask.shape;
    const [expert, old, mask] = (await Promise.all([
      input.behaviourLogprobs.data(),
      input.oldLogprobs.data(),
      input.mask.data(),
    ])) as Float32Array[];
    const c = tgrlCoefficients(
      expert!,
      old!,
      mask!,
      tokens,
      expertRows,
      input.rows.map((r) => r.accuracy),
      this.options,
    );
    const keepTokens = new Float32Array(n * tokens);
    const lossMask = new Float32Array(n * tokens).fill(1);
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < tokens; t++) {
        keepTokens[i * tokens + t] = c.weight[i * tokens + t]! * c.keep[i]!;
        if (c.keep[i] === 0) lossMask[i * tokens + t] = 0;
      }
    }
    const override: RatioOverride = {
      tokens: tf.tensor2d(c.expertTokens, [n, tokens]),
      constants: {
        expertLogprobs: tf.clone(input.behaviourLogprobs),
        coefficient: tf.tensor2d(keepTokens, [n, tokens]),
      },
      clip: true,
      ratio: (logprobs, k) =>
        tf.tidy(() =>
          tf.mul(tf.exp(tf.clipByValue(tf.sub(logprobs, k['expertLogprobs']!), -20, 20)), k['coefficient']!),
        ) as tf.Tensor2D,
      lossMask: tf.tensor2d(lossMask, [n, tokens]),
    };
    return { override };
  }
}

export const tgrlWeighter = defineStrategy({
  kind: 'token-weighter',
  name: 'tgrl',
  optionsSchema: TgrlOptions,
  docs: {
    summary:
      'TGRL: expert tokens train through the ratio to the expert times a detached discrepancy weight sigmoid(β·Δ̃); incorrect experts are filtered out of the loss.',
    paper: 'Beyond Where to Look: Trajectory-Guided RL for Multimodal RLVR (TGRL)',
    equations: 'TGRL Eqs. 17–25; METHODS.md §3.1, §4.2, TG-1…TG-8',
  },
  requires: ['logprobs', 'expertLogprobs'],
  create: (options) => new TgrlTokenWeighter(options),
});
