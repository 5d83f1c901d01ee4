import * as tf from '@tensorflow/tfjs';
import { Type, type Static } from '@sinclair/typebox';
import { Rng, defineStrategy, type ForwardRequest, type TokenWeighter, type WeighterInput } from '@mmrl/core';
import { mean } from '../advantage/group-stats.js';

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

/** The two token sets of a ToR selection, as flat row-major indices into `[N·T]`. */
export interface TorSets {
  /** T_r: the top ⌈q_r·N_tok⌉ valid tokens by top-p entropy H. */
  reasoning: number[];
  /** T_p: the top ⌈q_p·N_tok⌉ valid tokens by S = |ℓold − ℓ∅|. */
  perception: number[];
  /** The valid tokens (`mask > 0`), N_tok of them. */
  valid: number[];
}

function tieOrders(tieOrder: TorTieOrder | undefined): { reasoning?: ArrayLike<number>; perception?: ArrayLike<number> } {
  if (tieOrder !== undefined && 'length' in tieOrder) return { reasoning: tieOrder, perception: tieOrder };
  return tieOrder ?? {};
}

/**
 * ToR's token sets (METHODS.md §3.3), a pure function on flat row-major `[N·T]` arrays: over all valid tokens of the
 * batch (`mask > 0`, N_tok of them), T_r = the top ⌈q_r·N_tok⌉ by `h` (top-p entropy), T_p = the top ⌈q_p·N_tok⌉ by
 * `s` (|ℓold − ℓ∅|), exactly that many even with ties ({@link TorTieOrder}; default: index order).
 * @throws Error when the lengths differ.
 */
export function selectTorSets(
  h: ArrayLike<number>,
  s: ArrayLike<number>,
  mask: ArrayLike<number>,
  options: Pick<TorOptions, 'reasoningQuantile' | 'perceptionQuantile'>,
  tieOrder?: TorTieOrder,
): TorSets {
  const n = mask.length;
  const { reasoning: reasoningOrder, perception: perceptionOrder } = tieOrders(tieOrder);
  for (const [name, a] of [['h', h], ['s', s], ['tieOrder.reasoning', reasoningOrder], ['tieOrder.perception', perceptionOrder]] as const) {
    if (a !== undefined && a.length !== n) throw new Error(`tor: ${name} has length ${a.length}, the mask ${n}`);
  }
  const valid: number[] = [];
  for (let i = 0; i < n; i++) if (mask[i]! > 0) valid.push(i);
  return {
    reasoning: topK(h, valid, torSetSize(options.reasoningQuantile, valid.length), reasoningOrder),
    perception: topK(s, valid, torSetSize(options.perceptionQuantile, valid.length), perceptionOrder),
    valid,
  };
}

/** w = γ_r on T_r, γ_p on T_p \ T_r, 0 elsewhere and on padding; a token in both sets gets γ_r only (T-6). */
function torWeightsOf(sets: TorSets, n: number, options: Pick<TorOptions, 'reasoningWeight' | 'perceptionWeight'>): Float32Array {
  const w = new Float32Array(n);
  for (const i of sets.perception) w[i] = options.perceptionWeight;
  for (const i of sets.reasoning) w[i] = options.reasoningWeight;
  return w;
}

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
  return torWeightsOf(selectTorSets(h, s, mask, options, tieOrder), mask.length, options);
}

/** The keys of {@link torStepMetrics}. */
export const TOR_STEP_METRICS = [
  'tor_tokens',
  'tor_entropy_mean',
  'tor_entropy_zero_fraction',
  'tor_entropy_threshold',
  'tor_image_dependence_mean',
  'tor_image_dependence_threshold',
  'tor_reasoning_tied_fraction',
  'tor_perception_tied_fraction',
  'tor_overlap_fraction',
  'tor_zero_fraction',
  'tor_reasoning_first_half',
  'tor_perception_first_half',
] as const;

/**
 * What ToR's selection had to act on in one rollout batch (the input of its mechanism, for `docs/regimes.md`), from
 * flat row-major `[N·T]` arrays: `h` top-p entropies (nats), `s` image dependences |ℓold − ℓ∅| (nats), and the
 * {@link TorSets} chosen from them (whose `valid` are the mask's tokens). Plain numbers, logged per RL step (`stepMetrics`); all 0 without valid tokens:
 * - `tor_tokens`: N_tok;
 * - `tor_entropy_mean`, `tor_entropy_zero_fraction`: mean H and the share of tokens with H = 0 (one token holds the
 *   top-p mass: nothing to rank them by);
 * - `tor_entropy_threshold`, `tor_image_dependence_threshold`: the smallest H in T_r and the smallest S in T_p;
 * - `tor_image_dependence_mean`: mean S;
 * - `tor_reasoning_tied_fraction`, `tor_perception_tied_fraction`: the share of T_r (T_p) picked at random among
 *   tokens tied at the threshold, more of them than slots left (1 when the threshold is a tie of zeros filling the
 *   whole set: the selection is then a lottery, not a ranking);
 * - `tor_overlap_fraction`: |T_r ∩ T_p| / N_tok; `tor_zero_fraction`: the share of tokens in neither set (weight 0);
 * - `tor_reasoning_first_half`, `tor_perception_first_half`: the share of T_r (T_p) in the first ⌈T_i/2⌉ valid
 *   tokens of its response (T_i: the row's valid tokens; `cols` is T).
 */
export function torStepMetrics(h: ArrayLike<number>, s: ArrayLike<number>, sets: TorSets, cols: number): Record<string, number> {
  const n = sets.valid.length;
  if (n === 0) return Object.fromEntries(TOR_STEP_METRICS.map((k) => [k, 0]));
  const meanOver = (a: ArrayLike<number>) => mean(sets.valid.map((i) => a[i]!));
  const threshold = (a: ArrayLike<number>, set: number[]) => (set.length ? set.reduce((t, i) => Math.min(t, a[i]!), Infinity) : 0);
  // Share of `set` drawn among ties at its threshold `t`: the slots left at t, when more tokens share it.
  const tied = (a: ArrayLike<number>, set: number[], t: number) => {
    if (!set.length) return 0;
    const above = sets.valid.filter((i) => a[i]! > t).length;
    const atThreshold = sets.valid.filter((i) => a[i]! === t).length;
    const slots = set.length - above;
    return atThreshold > slots ? slots / set.length : 0;
  };
  const entropyThreshold = threshold(h, sets.reasoning);
  const dependenceThreshold = threshold(s, sets.perception);
  // Position of each valid token within its row's valid tokens, and the row's count.
  const position = new Map<number, number>();
  const rowCount = new Map<number, number>();
  for (const i of sets.valid) {
    const row = Math.floor(i / cols);
    const k = rowCount.get(row) ?? 0;
    position.set(i, k);
    rowCount.set(row, k + 1);
  }
  const firstHalf = (set: number[]) =>
    set.length ? set.filter((i) => position.get(i)! < Math.ceil(rowCount.get(Math.floor(i / cols))! / 2)).length / set.length : 0;
  const inReasoning = new Set(sets.reasoning);
  const overlap = sets.perception.filter((i) => inReasoning.has(i)).length;
  return {
    tor_tokens: n,
    tor_entropy_mean: meanOver(h),
    tor_entropy_zero_fraction: sets.valid.filter((i) => h[i]! === 0).length / n,
    tor_entropy_threshold: entropyThreshold,
    tor_image_dependence_mean: meanOver(s),
    tor_image_dependence_threshold: dependenceThreshold,
    tor_reasoning_tied_fraction: tied(h, sets.reasoning, entropyThreshold),
    tor_perception_tied_fraction: tied(s, sets.perception, dependenceThreshold),
    tor_overlap_fraction: overlap / n,
    tor_zero_fraction: (n - (sets.reasoning.length + sets.perception.length - overlap)) / n,
    tor_reasoning_first_half: firstHalf(sets.reasoning),
    tor_perception_first_half: firstHalf(sets.perception),
  };
}

/**
 * ToR token re-weighting (METHODS.md §3.3, §9 T-1..T-7): constant advantage multipliers on the reasoning tokens
 * (highest top-p entropy H of πθold) and the perception tokens (largest S = |ℓold − ℓ∅|, ℓ∅ scored with the image
 * removed), selected over the whole rollout batch (T-5); every other token gets 0.
 * Inputs `forward.topPEntropy`, `forward.imagelessLogprobs`, `oldLogprobs`, `mask` `[N, T]`; output `[N, T]`.
 * Ties at a threshold are broken by a seeded generator that advances with every call. Logs {@link torStepMetrics}.
 */
export class TorTokenWeighter implements TokenWeighter {
  readonly forwardRequest: ForwardRequest;
  private readonly rng: Rng;
  private lastMetrics: Record<string, number> = {};

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
    const sets = selectTorSets(h, s, m, this.options, { reasoning: this.randomOrder(count), perception: this.randomOrder(count) });
    this.lastMetrics = torStepMetrics(h, s, sets, shape[1]);
    return tf.tensor2d(torWeightsOf(sets, count, this.options), shape);
  }

  /** {@link torStepMetrics} of the last {@link weights} call (empty before the first). */
  stepMetrics(): Record<string, number> {
    return { ...this.lastMetrics };
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
