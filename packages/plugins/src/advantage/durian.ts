import * as tf from '@tensorflow/tfjs';
import { Type, type Static } from '@sinclair/typebox';
import {
  POLICY,
  collateSequences,
  defineStrategy,
  disposeBatch,
  type AdvantageEstimator,
  type AdvantageInput,
  type Policy,
  type Prompt,
} from '@mmrl/core';
import { assertAdvantageShapes, broadcastToTokens, mean, std } from './group-stats.js';
import { spectralEntropy } from './spectral-entropy.js';

export const DurianOptions = Type.Object(
  {
    alphaOriginal: Type.Number({
      minimum: 0,
      default: 0.1,
      description: 'α_Ori: weight of the plain GRPO advantage in A^Comb (Durian Eq. 20; best Table-3 row, METHODS.md DU-1).',
    }),
    alphaPerceptual: Type.Number({
      minimum: 0,
      default: 0.2,
      description: 'α_Percep: weight of the perceptual-bucket advantage A^Perc (Eq. 20, DU-1).',
    }),
    alphaReasoning: Type.Number({
      minimum: 0,
      default: 0.7,
      description: 'α_Reason: weight of the reasoning-bucket advantage A^Reason (Eq. 20, DU-1).',
    }),
    reasoningBuckets: Type.Integer({
      minimum: 1,
      default: 12,
      description: 'b: number of reasoning-difficulty buckets at the batch quantiles of L(Q_s) (Eq. 16; Table 2 best, DU-1).',
    }),
    sequenceScore: Type.Union([Type.Literal('sum'), Type.Literal('mean')], {
      default: 'sum',
      description: 'L_{s,i}: sum (Eq. 14) or mean over valid tokens of the old log-probs of a response (METHODS.md DU-2).',
    }),
    epsilon: Type.Number({
      minimum: 0,
      default: 1e-6,
      description: 'ε added to every std (group std of A^GRPO, bucket stds of A^Perc and A^Reason; METHODS.md DU-6).',
    }),
  },
  { additionalProperties: false },
);
export type DurianOptions = Static<typeof DurianOptions>;

/** Options of the pure part {@link durianSequenceAdvantages}. */
export type DurianMixOptions = Pick<
  DurianOptions,
  'alphaOriginal' | 'alphaPerceptual' | 'alphaReasoning' | 'reasoningBuckets' | 'epsilon'
>;

/** Result of {@link durianSequenceAdvantages}: sequence advantages `[N]` and the bucket structure. */
export interface DurianSequenceAdvantages {
  /** A^GRPO `[N]`: `(r − group mean) / (group unbiased std + ε)`. */
  grpo: Float64Array;
  /** A^Perc `[N]` (Eq. 12). */
  perceptual: Float64Array;
  /** A^Reason `[N]` (Eq. 18). */
  reasoning: Float64Array;
  /** A^Comb `[N]` (Eq. 20). */
  combined: Float64Array;
  /** Perceptual bucket of each group id (0 = S1, 1 = S2, 2 = S3; −1 for ids with no rows). */
  perceptualBucket: Int32Array;
  /** Reasoning bucket of each group id (0 = M1 … b−1 = M_b; −1 for ids with no rows). */
  reasoningBucket: Int32Array;
  /** Pooled unbiased reward std of each perceptual bucket `[3]` (0 for an empty bucket). */
  perceptualStd: Float64Array;
  /** Pooled unbiased reward std of each reasoning bucket `[b]` (0 for an empty bucket). */
  reasoningStd: Float64Array;
  /** Batch quantiles of H: `[τ0.25, τ0.75]`. */
  entropyQuantiles: [number, number];
  /** Batch quantiles of L(Q_s) at levels `u/b`, u = 0..b `[b + 1]` (exact positions, {@link rationalQuantile}). */
  logprobQuantiles: Float64Array;
}

/**
 * What Durian's buckets had to act on in one batch (logged every step): the spread of perceptual difficulty
 * (`durian_entropy_iqr` = τ0.75 − τ0.25 of H, nats) and of reasoning difficulty (`durian_logprob_range` = max − min
 * of L(Q_s), nats); the pooled reward std of each perceptual bucket (`durian_perc_std_s1…s3`, Eq. 13) and the
 * smallest and largest of the non-empty reasoning buckets (`durian_reason_std_min/max`, Eq. 19), beside the mean
 * within-group std GRPO divides by (`durian_group_std_mean`, unbiased, over groups with ≥ 2 rows); and how far the
 * mix moved the advantage: `durian_change` = ‖A^Comb − A^GRPO‖₂ / ‖A^GRPO‖₂ over the rows (0 when A^GRPO is all 0).
 * @param rewards `[N]`; @param groupIndex `[N]`, as given to {@link durianSequenceAdvantages}.
 */
export function durianStepMetrics(
  result: DurianSequenceAdvantages,
  rewards: ArrayLike<number>,
  groupIndex: ArrayLike<number>,
): Record<string, number> {
  const byGroup = new Map<number, number[]>();
  for (let i = 0; i < groupIndex.length; i++) {
    const list = byGroup.get(groupIndex[i]!) ?? [];
    list.push(rewards[i]!);
    byGroup.set(groupIndex[i]!, list);
  }
  const stds: number[] = [];
  for (const list of byGroup.values()) {
    if (list.length < 2) continue;
    const m = list.reduce((a, b) => a + b, 0) / list.length;
    stds.push(Math.sqrt(list.reduce((a, b) => a + (b - m) ** 2, 0) / (list.length - 1)));
  }
  const reasonStds: number[] = [];
  const used = new Set<number>();
  for (const u of result.reasoningBucket) if (u >= 0) used.add(u);
  for (const u of used) reasonStds.push(result.reasoningStd[u]!);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < result.grpo.length; i++) {
    diff += (result.combined[i]! - result.grpo[i]!) ** 2;
    norm += result.grpo[i]! ** 2;
  }
  const q = result.logprobQuantiles;
  return {
    durian_entropy_iqr: result.entropyQuantiles[1] - result.entropyQuantiles[0],
    durian_logprob_range: q.length > 0 ? q[q.length - 1]! - q[0]! : 0,
    durian_perc_std_s1: result.perceptualStd[0]!,
    durian_perc_std_s2: result.perceptualStd[1]!,
    durian_perc_std_s3: result.perceptualStd[2]!,
    durian_reason_std_min: reasonStds.length ? Math.min(...reasonStds) : 0,
    durian_reason_std_max: reasonStds.length ? Math.max(...reasonStds) : 0,
    durian_group_std_mean: stds.length ? stds.reduce((a, b) => a + b, 0) / stds.length : 0,
    durian_change: norm > 0 ? Math.sqrt(diff / norm) : 0,
  };
}

/**
 * Empirical α-quantile with linear interpolation between order statistics (numpy's default; METHODS.md DU-3):
 * position `α·(n − 1)` in the sorted values, computed in floating point. For a level u/b use
 * {@link rationalQuantile}, whose position is exact.
 * @throws Error on an empty list or α outside [0, 1].
 */
export function linearQuantile(sorted: readonly number[], alpha: number): number {
  const n = sorted.length;
  if (n === 0) throw new Error('linearQuantile: no values');
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`linearQuantile: level ${alpha} is outside [0, 1]`);
  const pos = alpha * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  const frac = pos - lo;
  return frac === 0 ? sorted[lo]! : sorted[lo]! + frac * (sorted[hi]! - sorted[lo]!);
}

/**
 * Position of the empirical u/b-quantile among n sorted values (Durian Eqs. 10 and 16, linear interpolation, DU-3),
 * in exact integer arithmetic: `h = (n − 1)·u`, `index = ⌊h/b⌋`, `remainder = h mod b`, so the position is
 * `index + remainder/b`. The floating-point product `(u/b)·(n − 1)` can land a hair above an integer (b = 12 with
 * n = 109, 205 or 217 at u = 7), which put a prompt lying exactly on q_{u/b} one bucket too low.
 * @throws Error unless n ≥ 1, b ≥ 1 and 0 ≤ u ≤ b are integers (and (n − 1)·u is a safe integer).
 */
export function quantilePosition(n: number, u: number, b: number): { index: number; remainder: number } {
  if (!Number.isInteger(n) || n < 1) throw new Error(`quantilePosition: n = ${n} is not a positive integer`);
  if (!Number.isInteger(b) || b < 1) throw new Error(`quantilePosition: b = ${b} is not a positive integer`);
  if (!Number.isInteger(u) || u < 0 || u > b) throw new Error(`quantilePosition: u = ${u} is not an integer in [0, ${b}]`);
  const h = (n - 1) * u;
  if (!Number.isSafeInteger(h)) throw new Error(`quantilePosition: (n − 1)·u = ${h} is not a safe integer`);
  return { index: Math.floor(h / b), remainder: h % b };
}

/**
 * Empirical u/b-quantile of `sorted` (ascending) with linear interpolation, at the exact position of
 * {@link quantilePosition}: `sorted[j]` when the remainder is 0, else `sorted[j] + (r/b)·(sorted[j+1] − sorted[j])`.
 * @throws Error on an empty list or an invalid level (see {@link quantilePosition}).
 */
export function rationalQuantile(sorted: readonly number[], u: number, b: number): number {
  if (sorted.length === 0) throw new Error('rationalQuantile: no values');
  const { index, remainder } = quantilePosition(sorted.length, u, b);
  if (remainder === 0) return sorted[index]!;
  const lo = sorted[index]!;
  return lo + (remainder / b) * (sorted[index + 1]! - lo);
}

/**
 * The batch values that decide the comparisons with the u/b-quantile q exactly, for a value x that is itself one of
 * the `sorted` values (no interpolated float is compared): `x ≤ q ⇔ x ≤ atMost` and `x ≥ q ⇔ x ≥ atLeast`.
 * With j, r from {@link quantilePosition}: `atMost = sorted[j]`; `atLeast = sorted[j]` when r = 0 or
 * sorted[j] = sorted[j+1] (then q = sorted[j]), else `sorted[j+1]` (q lies strictly between the two).
 */
export function quantileEdges(sorted: readonly number[], u: number, b: number): { atMost: number; atLeast: number } {
  if (sorted.length === 0) throw new Error('quantileEdges: no values');
  const { index, remainder } = quantilePosition(sorted.length, u, b);
  const lo = sorted[index]!;
  const atLeast = remainder === 0 || sorted[index + 1]! === lo ? lo : sorted[index + 1]!;
  return { atMost: lo, atLeast };
}

/**
 * Perceptual bucket (Durian Eq. 10): S1 `H ≤ τ0.25` (index 0), S3 `H ≥ τ0.75` (index 2), S2 otherwise (index 1).
 * When τ0.25 = τ0.75 a value equal to both goes to S1 (METHODS.md §2.6). The bounds may be the quantiles themselves
 * or, as {@link durianSequenceAdvantages} passes them, their exact edges (`quantileEdges(…, 1, 4).atMost` and
 * `quantileEdges(…, 3, 4).atLeast`).
 */
export function perceptualBucketOf(h: number, q25: number, q75: number): number {
  if (h <= q25) return 0;
  if (h >= q75) return 2;
  return 1;
}

/**
 * Reasoning bucket (Durian Eq. 16): the u (0-based) with `q_{u/b} ≤ L < q_{(u+1)/b}`, the last bucket closed at the
 * maximum. With repeated quantiles the value goes to the highest bucket whose lower edge it reaches (empty buckets
 * in between).
 * @param quantiles `[b + 1]` lower edges at levels u/b: the quantiles, or (as {@link durianSequenceAdvantages}
 *   passes them) their exact edges `quantileEdges(…, u, b).atLeast`.
 */
export function reasoningBucketOf(l: number, quantiles: ArrayLike<number>): number {
  const b = quantiles.length - 1;
  let u = 0;
  for (let k = 1; k < b; k++) if (quantiles[k]! <= l) u = k;
  return u;
}

/**
 * The model-free part of Durian (METHODS.md §2.6, Eqs. 10–20): from rewards, groups and the per-group perceptual
 * difficulty H(I_s) and reasoning difficulty L(Q_s), the three advantages and their mix. Buckets are formed over the
 * groups present in `groupIndex` (DU-5: the groups that survived filtering). Every numerator subtracts the group's
 * own mean; A^Perc / A^Reason divide by the unbiased std of the pooled rewards of the group's bucket plus ε.
 * @param entropy H(I_s) indexed by group id (entries of absent ids are ignored).
 * @param logprob L(Q_s) indexed by group id.
 * @throws Error for a group of size 1, an invalid group id, or a missing / non-finite H or L of a present group.
 */
export function durianSequenceAdvantages(
  rewards: ArrayLike<number>,
  groupIndex: Int32Array,
  entropy: ArrayLike<number>,
  logprob: ArrayLike<number>,
  options: DurianMixOptions,
): DurianSequenceAdvantages {
  const n = rewards.length;
  if (groupIndex.length !== n) throw new Error(`Durian: groupIndex has length ${groupIndex.length}, rewards ${n}`);
  const b = options.reasoningBuckets;
  if (!Number.isInteger(b) || b < 1) throw new Error(`Durian: reasoningBuckets = ${b} is not a positive integer`);
  const eps = options.epsilon;

  // group id → rows
  const rowsOf = new Map<number, number[]>();
  groupIndex.forEach((g, row) => {
    if (g < 0 || !Number.isInteger(g)) throw new Error(`groupIndex[${row}] = ${g} is not a non-negative integer`);
    const list = rowsOf.get(g);
    if (list) list.push(row);
    else rowsOf.set(g, [row]);
  });
  const ids = [...rowsOf.keys()].sort((x, y) => x - y);
  for (const g of ids) {
    const rows = rowsOf.get(g)!;
    if (rows.length < 2) {
      throw new Error(
        `Durian needs at least 2 trajectories per group; group of row ${rows[0]} has 1 (set the samples per prompt ≥ 2)`,
      );
    }
    for (const [label, values] of [
      ['H(I_s)', entropy],
      ['L(Q_s)', logprob],
    ] as const) {
      const v = values[g];
      if (v === undefined || !Number.isFinite(v)) throw new Error(`Durian: ${label} of group ${g} is ${v}`);
    }
  }

  const numGroups = ids.length === 0 ? 0 : ids[ids.length - 1]! + 1;
  const perceptualBucket = new Int32Array(numGroups).fill(-1);
  const reasoningBucket = new Int32Array(numGroups).fill(-1);
  const grpo = new Float64Array(n);
  const perceptual = new Float64Array(n);
  const reasoning = new Float64Array(n);
  const combined = new Float64Array(n);
  const perceptualStd = new Float64Array(3);
  const reasoningStd = new Float64Array(b);
  const logprobQuantiles = new Float64Array(b + 1);
  // Buckets at the batch quantiles (Eqs. 10, 16); an empty batch has no quantiles (all zero) and no buckets. The
  // quantile positions are exact integer ratios, and every comparison is made against the batch value that decides
  // it (quantileEdges), so a prompt lying exactly on a quantile is never moved by float rounding.
  const hSorted = ids.map((g) => entropy[g]!).sort((x, y) => x - y);
  const lSorted = ids.map((g) => logprob[g]!).sort((x, y) => x - y);
  const q25 = ids.length > 0 ? rationalQuantile(hSorted, 1, 4) : 0;
  const q75 = ids.length > 0 ? rationalQuantile(hSorted, 3, 4) : 0;
  const lowerEdges = new Float64Array(b + 1);
  if (ids.length > 0) {
    for (let u = 0; u <= b; u++) {
      logprobQuantiles[u] = rationalQuantile(lSorted, u, b);
      lowerEdges[u] = quantileEdges(lSorted, u, b).atLeast;
    }
  }
  const s1Edge = ids.length > 0 ? quantileEdges(hSorted, 1, 4).atMost : 0;
  const s3Edge = ids.length > 0 ? quantileEdges(hSorted, 3, 4).atLeast : 0;
  for (const g of ids) {
    perceptualBucket[g] = perceptualBucketOf(entropy[g]!, s1Edge, s3Edge);
    reasoningBucket[g] = reasoningBucketOf(logprob[g]!, lowerEdges);
  }

  // Pooled unbiased std per bucket (Eqs. 11, 13, 17, 19).
  const pooledStd = (bucketOf: Int32Array, count: number, out: Float64Array) => {
    const pools: number[][] = Array.from({ length: count }, () => []);
    for (const g of ids) for (const r of rowsOf.get(g)!) pools[bucketOf[g]!]!.push(rewards[r]!);
    pools.forEach((pool, a) => (out[a] = std(pool, 'unbiased')));
  };
  pooledStd(perceptualBucket, 3, perceptualStd);
  pooledStd(reasoningBucket, b, reasoningStd);

  for (const g of ids) {
    const rows = rowsOf.get(g)!;
    const values = rows.map((r) => rewards[r]!);
    const mu = mean(values);
    const sigma = std(values, 'unbiased');
    const sp = perceptualStd[perceptualBucket[g]!]!;
    const sr = reasoningStd[reasoningBucket[g]!]!;
    for (const r of rows) {
      const centred = rewards[r]! - mu;
      grpo[r] = centred / (sigma + eps);
      perceptual[r] = centred / (sp + eps);
      reasoning[r] = centred / (sr + eps);
      combined[r] =
        options.alphaOriginal * grpo[r]! + options.alphaPerceptual * perceptual[r]! + options.alphaReasoning * reasoning[r]!;
    }
  }
  return {
    grpo,
    perceptual,
    reasoning,
    combined,
    perceptualBucket,
    reasoningBucket,
    perceptualStd,
    reasoningStd,
    entropyQuantiles: [q25, q75],
    logprobQuantiles,
  };
}

/**
 * Reasoning difficulty of each group id (Durian Eqs. 14–15): `L_{s,i}` = sum (or, `mean`, the mean over valid
 * tokens; 0 for an empty response) of the old log-probs over the response mask, `L(Q_s)` = mean over the group.
 * @returns `[numGroups]` (NaN for ids with no rows).
 */
export function groupSequenceLogprobs(
  oldLogprobs: Float32Array,
  mask: Float32Array,
  tokens: number,
  groupIndex: Int32Array,
  score: 'sum' | 'mean',
): Float64Array {
  const n = groupIndex.length;
  if (oldLogprobs.length !== n * tokens) {
    throw new Error(`Durian: oldLogprobs has length ${oldLogprobs.length}, expected N·T = ${n}·${tokens} = ${n * tokens}`);
  }
  let numGroups = 0;
  for (const g of groupIndex) numGroups = Math.max(numGroups, g + 1);
  const sum = new Float64Array(numGroups);
  const count = new Float64Array(numGroups);
  for (let i = 0; i < n; i++) {
    let s = 0;
    let m = 0;
    for (let t = 0; t < tokens; t++) {
      const w = mask[i * tokens + t]!;
      if (w === 0) continue;
      s += w * oldLogprobs[i * tokens + t]!;
      m += w;
    }
    const g = groupIndex[i]!;
    sum[g]! += score === 'sum' ? s : m > 0 ? s / m : 0;
    count[g]! += 1;
  }
  return sum.map((s, g) => (count[g]! > 0 ? s / count[g]! : Number.NaN));
}

/**
 * Durian difficulty-aware group normalisation (METHODS.md §2.6, Durian arXiv 2602.21743 Eqs. 5–20):
 *   A^Comb = α_Ori·A^GRPO + α_Percep·A^Perc + α_Reason·A^Reason, broadcast over the response mask.
 * The perceptual difficulty H(I_s) is the spectral entropy of the patch features of the prompt image under the frozen
 * BASE policy (a clone of the run's policy taken at creation, METHODS.md DU-4), computed once per prompt id and
 * cached. The reasoning difficulty is the group mean of the old-policy sequence log-probabilities.
 */
export class DurianAdvantageEstimator implements AdvantageEstimator {
  private readonly entropyCache = new Map<string, number>();

  /** {@link durianStepMetrics} of the last {@link compute} (empty before the first). */
  private lastMetrics: Record<string, number> = {};

  /**
   * @param base the frozen base policy whose `forward(…, { outputs: { patchFeatures: true } })` supplies the patch
   *   features (owned by the estimator; see {@link dispose}).
   */
  constructor(
    private readonly options: DurianOptions,
    private readonly base: Policy,
  ) {}

  async compute(input: AdvantageInput): Promise<Float32Array> {
    assertAdvantageShapes(input, 'Durian');
    const { rewards, groupIndex, mask, tokens, oldLogprobs, groupPrompts } = input;
    if (oldLogprobs === undefined) throw new Error('Durian needs oldLogprobs [N·T] in the advantage input (reasoning difficulty, Eq. 14)');
    if (groupPrompts === undefined) throw new Error('Durian needs groupPrompts in the advantage input (perceptual difficulty, Eq. 5)');
    // Validate the group structure before running the model.
    const sizes = new Map<number, number>();
    groupIndex.forEach((g, row) => {
      if (g < 0 || !Number.isInteger(g)) throw new Error(`groupIndex[${row}] = ${g} is not a non-negative integer`);
      sizes.set(g, (sizes.get(g) ?? 0) + 1);
    });
    const present = [...sizes.keys()].sort((a, b) => a - b);
    for (const g of present) {
      if (sizes.get(g)! < 2) {
        throw new Error(
          `Durian needs at least 2 trajectories per group; group of row ${groupIndex.indexOf(g)} has 1 (set the samples per prompt ≥ 2)`,
        );
      }
    }
    const prompts: Prompt[] = present.map((g) => {
      const p = groupPrompts[g];
      if (p === undefined) throw new Error(`Durian: groupPrompts has no prompt for group ${g} (length ${groupPrompts.length})`);
      return p;
    });
    const logprob = groupSequenceLogprobs(oldLogprobs, mask, tokens, groupIndex, this.options.sequenceScore);
    await this.cacheEntropies(prompts);
    const entropy = new Float64Array(logprob.length).fill(Number.NaN);
    present.forEach((g, k) => (entropy[g] = this.entropyCache.get(prompts[k]!.id)!));
    const result = durianSequenceAdvantages(rewards, groupIndex, entropy, logprob, this.options);
    this.lastMetrics = durianStepMetrics(result, rewards, groupIndex);
    return broadcastToTokens(result.combined, mask, tokens);
  }

  /** The last {@link compute}'s {@link durianStepMetrics} (empty before the first). */
  stepMetrics(): Record<string, number> {
    return { ...this.lastMetrics };
  }

  /** H(I_s) of a prompt id once it has been computed (for inspection and tests). */
  cachedEntropy(promptId: string): number | undefined {
    return this.entropyCache.get(promptId);
  }

  /** Computes and caches H(I_s) for the prompts not cached yet, one base forward per image shape. */
  private async cacheEntropies(prompts: readonly Prompt[]): Promise<void> {
    const pending = new Map<string, Prompt[]>();
    const seen = new Set<string>();
    for (const p of prompts) {
      if (this.entropyCache.has(p.id) || seen.has(p.id)) continue;
      seen.add(p.id);
      const key = `${p.imageShape[0]}x${p.imageShape[1]}`;
      const list = pending.get(key);
      if (list) list.push(p);
      else pending.set(key, [p]);
    }
    for (const list of pending.values()) {
      const shape = list[0]!.imageShape;
      const tokenizer = this.base.tokenizer;
      const batch = collateSequences(
        list.map((p) => ({ image: p.image, promptTokens: [tokenizer.bosId], responseTokens: [] })),
        shape,
        tokenizer.padId,
        2, // an empty response padded to 2 tokens: the model's text positions need at least 2 entries
      );
      let features: tf.Tensor3D | undefined;
      try {
        features = tf.tidy(() => {
          const out = this.base.forward(batch, { outputs: { patchFeatures: true } });
          if (out.patchFeatures === undefined) throw new Error('Durian: the base policy returned no patchFeatures');
          return out.patchFeatures;
        });
        const [count, patches, dim] = features.shape;
        if (count !== list.length) throw new Error(`Durian: patchFeatures has ${count} rows for ${list.length} images`);
        const data = (await features.data()) as Float32Array;
        list.forEach((p, k) => {
          const h = spectralEntropy(data.subarray(k * patches * dim, (k + 1) * patches * dim), patches, dim);
          this.entropyCache.set(p.id, h);
        });
      } finally {
        features?.dispose();
        disposeBatch(batch);
      }
    }
  }

  /** Releases the frozen base policy. */
  dispose(): void {
    this.base.dispose();
  }
}

export const durianAdvantage = defineStrategy({
  kind: 'advantage-estimator',
  name: 'durian',
  optionsSchema: DurianOptions,
  docs: {
    summary:
      'Durian: GRPO numerator with stds shared in perceptual (image spectral entropy) and reasoning (old log-prob) ' +
      'difficulty buckets, mixed with plain GRPO.',
    paper: 'Enhancing Multi-Modal LLMs Reasoning via Difficulty-Aware Group Normalization (arXiv 2602.21743)',
    equations: 'METHODS.md §2.6; Durian Eqs. 5–20',
  },
  requires: ['patchFeatures'],
  create: (options, ctx) => new DurianAdvantageEstimator(options, ctx.container.resolve(POLICY).clone()),
});
