import * as tf from '@tensorflow/tfjs';
import { Type, type Static } from '@sinclair/typebox';
import { Rng, defineStrategy, type ForwardRequest, type TokenWeighter, type WeighterInput } from '@mmrl/core';

export const TorOptions = Type.Object(
  {
    reasoningQuantile: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.3,
      description: 'q_r: share of the valid tokens of the rollout batch kept as reasoning tokens (top ⌈q_r·N_tok⌉ by top-p entropy).',
    }),
    perceptionQuantile: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.3,
      description: 'q_p: share kept as perception tokens (top ⌈q_p·N_tok⌉ by S = |ℓold − ℓ∅|).',
    }),
    reasoningWeight: Type.Number({
      minimum: 0,
      default: 1.0,
      description: 'γ_r: advantage multiplier of reasoning tokens (also of tokens in both sets, T-6).',
    }),
    perceptionWeight: Type.Number({
      minimum: 0,
      default: 0.5,
      description: 'γ_p: advantage multiplier of perception tokens that are not reasoning tokens.',
    }),
    entropyTopP: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1,
      default: 0.95,
      description: 'Nucleus mass of the truncated, renormalised distribution whose entropy is H (T-2).',
    }),
    seed: Type.Integer({
      default: 0,
      description: 'Seed of the generator that breaks ties at the selection thresholds uniformly at random (T-4).',
    }),
  },
  { additionalProperties: false },
);
export type TorOptions = Static<typeof TorOptions>;

/** The weights part of {@link TorOptions} that {@link selectTorWeights} needs. */
export type TorSelectionOptions = Pick<TorOptions, 'reasoningQuantile' | 'perceptionQuantile' | 'reasoningWeight' | 'perceptionWeight'>;

/**
 * Size of a ToR token set: ⌈q·n⌉, clamped to [0, n]. The product is rounded to 9 significant decimals first, so
 * float noise does not add a token (e.g. 0.3·n slightly above an integer).
 */
export function torSetSize(quantile: number, n: number): number {
  const product = Number((quantile * n).toPrecision(9));
  return Math.max(0, Math.min(n, Math.ceil(product)));
}

/**
 * The indices of the `k` largest `scores` among `candidates`, exactly `k` of them even with ties: equal scores are
 * ordered by `tieOrder` (smaller first), then by index. NaN scores rank below every number.
 */
function topK(scores: ArrayLike<number>, candidates: number[], k: number, tieOrder: ArrayLike<number> | undefined): number[] {
  const key = (i: number) => (Number.isNaN(scores[i]!) ? -Infinity : scores[i]!);
  const sorted = [...candidates].sort((a, b) => {
    const d = key(b) - key(a);
    if (d !== 0 && !Number.isNaN(d)) return d;
    if (tieOrder) {
      const t = tieOrder[a]! - tieOrder[b]!;
      if (t !== 0) return t;
    }
    return a - b;
  });
  return sorted.slice(0, k);
}

/**
 * Tie orders of the two selections: a priority per token (same length as the scores); among equal scores the smaller
 * value is taken first, then the smaller index. One array applies to both selections.
 */
export type TorTieOrder = ArrayLike<number> | { reasoning?: ArrayLike<number>; perception?: ArrayLike<number> };

/**
 * ToR selection (METHODS.md §3.3), a pure function on flat row-major `[N·T]` arrays:
 * over all valid tokens of the batch (`mask > 0`, N_tok of them), T_r = the top ⌈q_r·N_tok⌉ by `h` (top-p entropy),
 * T_p = the top ⌈q_p·N_tok⌉ by `s` (|ℓold − ℓ∅|); w = γ_r on T_r, γ_p on T_p \ T_r, 0 elsewhere and on padding.
 * @param tieOrder optional priorities for ties ({@link TorTieOrder}; default: index order). {@link TorTokenWeighter}
 *   passes two independent seeded random permutations (T-4).
 * @throws Error when the lengths differ.
 */
export function selectTorWeights(
  h: ArrayLike<number>,
  s: ArrayLike<number>,
  mask: ArrayLike<number>,
  options: TorSelectionOptions,
  tieOrder?: TorTieOrder,
): Float32Array {
  const n = mask.length;
  const single = tieOrder !== undefined && 'length' in tieOrder;
  const reasoningOrder = single ? (tieOrder as ArrayLike<number>) : (tieOrder as { reasoning?: ArrayLike<number> } | undefined)?.reasoning;
  const perceptionOrder = single ? (tieOrder as ArrayLike<number>) : (tieOrder as { perception?: ArrayLike<number> } | undefined)?.perception;
  for (const [name, a] of [['h', h], ['s', s], ['tieOrder.reasoning', reasoningOrder], ['tieOrder.perception', perceptionOrder]] as const) {
    if (a !== undefined && a.length !== n) throw new Error(`tor: ${name} has length ${a.length}, the mask ${n}`);
  }
  const valid: number[] = [];
  for (let i = 0; i < n; i++) if (mask[i]! > 0) valid.push(i);
  const w = new Float32Array(n);
  for (const i of topK(s, valid, torSetSize(options.perceptionQuantile, valid.length), perceptionOrder)) w[i] = options.perceptionWeight;
  // A token in both sets gets γ_r only (T-6).
  for (const i of topK(h, valid, torSetSize(options.reasoningQuantile, valid.length), reasoningOrder)) w[i] = options.reasoningWeight;
  return w;
}

/**
 * ToR token re-weighting (METHODS.md §3.3, §9 T-1..T-7): constant advantage multipliers on the reasoning tokens
 * (highest top-p entropy H of πθold) and the perception tokens (largest S = |ℓold − ℓ∅|, ℓ∅ scored with the image
 * removed), selected over the whole rollout batch (T-5); every other token gets 0.
 * Inputs `forward.topPEntropy`, `forward.imagelessLogprobs`, `oldLogprobs`, `mask` `[N, T]`; output `[N, T]`.
 * Ties at a threshold are broken by a seeded generator that advances with every call.
 */
export class TorTokenWeighter implements TokenWeighter {
  readonly forwardRequest: ForwardRequest;
  private readonly rng: Rng;

  constructor(private readonly options: TorOptions) {
    this.forwardRequest = { topPEntropy: options.entropyTopP, imagelessLogprobs: true };
    this.rng = new Rng(options.seed);
  }

  async weights(input: WeighterInput): Promise<tf.Tensor2D> {
    const { topPEntropy, imagelessLogprobs } = input.forward;
    if (!topPEntropy || !imagelessLogprobs) {
      throw new Error('tor: the old-policy forward lacks topPEntropy and/or imagelessLogprobs (see forwardRequest)');
    }
    const shape = input.mask.shape;
    for (const [name, t] of [
      ['topPEntropy', topPEntropy],
      ['imagelessLogprobs', imagelessLogprobs],
      ['oldLogprobs', input.oldLogprobs],
    ] as const) {
      if (t.shape[0] !== shape[0] || t.shape[1] !== shape[1]) {
        throw new Error(`tor: ${name} has shape [${t.shape}], the mask [${shape}]`);
      }
    }
    // The selection is a batch-wide top-k whose size ⌈q·Σm⌉ depends on the data and whose ties are broken in a
    // seeded random order, so it runs on the CPU, on values read asynchronously (webgpu-safe).
    const scores = tf.tidy(() => tf.abs(tf.sub(input.oldLogprobs, imagelessLogprobs)));
    const [s, h, m] = await Promise.all([scores.data(), topPEntropy.data(), input.mask.data()]);
    scores.dispose();
    const count = shape[0] * shape[1];
    const w = selectTorWeights(Array.from(h), Array.from(s), Array.from(m), this.options, {
      reasoning: this.randomOrder(count),
      perception: this.randomOrder(count),
    });
    return tf.tensor2d(w, shape);
  }

  /** A uniformly random priority per token (the ranks of a seeded shuffle). */
  private randomOrder(count: number): Int32Array {
    const order = new Int32Array(count);
    this.rng.shuffle(Array.from({ length: count }, (_, i) => i)).forEach((token, rank) => (order[token] = rank));
    return order;
  }
}

export const torWeighter = defineStrategy({
  kind: 'token-weighter',
  name: 'tor',
  optionsSchema: TorOptions,
  docs: {
    summary:
      'ToR: keeps the top-entropy reasoning tokens (weight γ_r) and the most image-dependent perception tokens (weight γ_p) of the rollout batch; all other tokens get 0.',
    paper: 'ToR: token reweighting of reasoning and perception tokens (OpenReview; defaults from an unofficial re-implementation)',
    equations: 'METHODS.md §3.3, §9 rows T-1..T-7',
  },
  requires: ['entropy', 'imagelessLogprobs'],
  create: (options) => new TorTokenWeighter(options),
});
