import * as tf from '@tensorflow/tfjs';
import { Type, type Static } from '@sinclair/typebox';
import { defineStrategy, type ForwardRequest, type TokenWeighter, type WeighterInput } from '@mmrl/core';
import { mean, std } from '../advantage/group-stats.js';

export const VGPO_MODES = ['official', 'paper'] as const;
export type VgpoMode = (typeof VGPO_MODES)[number];

export const VgpoOptions = Type.Object(
  {
    mode: Type.Union(
      VGPO_MODES.map((m) => Type.Literal(m)),
      {
        default: 'official',
        description:
          'official: the released code (global min–max of the raw cosine incl. padding, clamps [0.1, 2] and [0.9, 2], s from ŵ, β·t0/(T−1)); paper: Eqs. (2)–(12) without clamps (METHODS.md V-1).',
      },
    ),
    beta: Type.Number({ minimum: 0, default: 0.3, description: 'Compensation intensity β (Eq. 5).' }),
    tailRatio: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.5,
      description: 'Tail ratio γ: the gate acts on the last γ·T_i tokens of each response (Eq. 6).',
    }),
    topFraction: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.2,
      description: 'Top fraction κ of the tail that is gated: count max(1, floor(κ·|tail|)), ties included (V-4).',
    }),
    epsilon: Type.Number({ exclusiveMinimum: 0, default: 1e-8, description: 'Smoothing ε of the cosine and the min–max normalisations.' }),
    intra: Type.Boolean({
      default: true,
      description: 'Apply the intra-trajectory factor (Eqs. 7–8); false = 1 (the "w/o intra" ablation, VGPO Table 3).',
    }),
    inter: Type.Boolean({
      default: true,
      description: 'Apply the inter-trajectory factor (Eqs. 9–11); false = 1 (the "w/o inter" ablation, VGPO Table 3).',
    }),
  },
  { additionalProperties: false },
);
export type VgpoOptions = Static<typeof VgpoOptions>;

/** Everything {@link vgpoFromCosines} computes, flat row-major `[N, T]` or `[N]`; 0 on padding and no-image rows. */
export interface VgpoBreakdown {
  /** Visual focus score: paper ρ = (S + 1)/2 (Eq. 4); official v = global min–max of S. `[N, T]`. */
  score: Float32Array;
  /** Gate G (Eq. 6), 1 or 0. `[N, T]`. */
  gate: Float32Array;
  /** Compensated score w (Eq. 5). `[N, T]`. */
  w: Float32Array;
  /** Row min–max ŵ (Eq. 7). `[N, T]`. */
  wHat: Float32Array;
  /** Intra factor: paper 1 + ψ (Eq. 8); official ψ' = clamp(1 + ŵ − mean ŵ, 0.1, 2). `[N, T]`. */
  intra: Float32Array;
  /** Trajectory score s_i: paper Σ w (Eq. 9); official Σ ŵ. `[N]`. */
  s: Float32Array;
  /** Group min–max ŝ_i (Eq. 10). `[N]`. */
  sHat: Float32Array;
  /** Inter factor: paper 1 + φ (Eq. 11); official φ' = clamp(1 + ŝ − mean ŝ, 0.9, 2). `[N]`. */
  inter: Float32Array;
  /** The advantage multiplier intra·inter (Eq. 12); 1 on real tokens of rows without image tokens, 0 on padding. */
  multipliers: Float32Array;
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/**
 * The VGPO math from the cosines `S [N, T]` (Eq. 3) of each response token's hidden state with the row's visual
 * prototype (METHODS.md §3.2). `mask [N, T]` marks real tokens (T_i = Σ_t mask); `groupIndex [N]` the prompt (V-2);
 * `hasImage [N]` (default all 1) marks rows whose prompt has image tokens — the others get factor 1 on every real token
 * and take no part in the global min–max nor the group normalisation (V-7).
 * Precision: the cosines are float32 (as the forward returns them); everything from Eq. 4 on is computed in float64,
 * and each min–max normalisation (Eqs. 7, 10) subtracts its min from the very values the min was taken over, so a
 * row of constant w (e.g. T_i = 1) has ŵ = 0 exactly and a group of equal s_i has ŝ = 0 exactly. The breakdown holds
 * float32 copies, rounded once at the end of each computation and never read back.
 * @throws Error when the lengths of `S`, `mask`, `groupIndex` do not match N and T.
 */
export function vgpoFromCosines(
  S: Float32Array,
  mask: Float32Array,
  groupIndex: Int32Array,
  N: number,
  T: number,
  options: VgpoOptions,
  hasImage?: ArrayLike<number>,
): VgpoBreakdown {
  const { mode, beta, tailRatio: gamma, topFraction: kappa, epsilon: eps } = options;
  if (S.length !== N * T || mask.length !== N * T || groupIndex.length !== N) {
    throw new Error(`vgpo: shape mismatch (S ${S.length}, mask ${mask.length}, groupIndex ${groupIndex.length}, N ${N}, T ${T})`);
  }
  const img = (i: number) => !hasImage || hasImage[i]! > 0;
  const out: VgpoBreakdown = {
    score: new Float32Array(N * T),
    gate: new Float32Array(N * T),
    w: new Float32Array(N * T),
    wHat: new Float32Array(N * T),
    intra: new Float32Array(N * T),
    s: new Float32Array(N),
    sHat: new Float32Array(N),
    inter: new Float32Array(N),
    multipliers: new Float32Array(N * T),
  };
  // s_i and the two factors in float64 (Eqs. 10–12 read these, not the rounded out.s / out.intra / out.inter).
  const s64 = new Float64Array(N);
  const intra64 = new Float64Array(N * T);
  const inter64 = new Float64Array(N);
  // Real token positions of each row (right padding is usual, but any mask works).
  const positions: number[][] = [];
  for (let i = 0; i < N; i++) {
    const p: number[] = [];
    for (let t = 0; t < T; t++) if (mask[i * T + t]! > 0) p.push(t);
    positions.push(p);
  }

  // Official mode: one min–max over the whole micro-batch, padding cosines 0 included when any row is padded (V-6).
  let gMin = Infinity;
  let gMax = -Infinity;
  if (mode === 'official') {
    let padded = false;
    for (let i = 0; i < N; i++) {
      if (positions[i]!.length < T) padded = true;
      if (!img(i)) continue;
      for (const t of positions[i]!) {
        gMin = Math.min(gMin, S[i * T + t]!);
        gMax = Math.max(gMax, S[i * T + t]!);
      }
    }
    if (padded) {
      gMin = Math.min(gMin, 0);
      gMax = Math.max(gMax, 0);
    }
  }

  for (let i = 0; i < N; i++) {
    const pos = positions[i]!;
    const Ti = pos.length;
    if (!img(i) || Ti === 0) continue;
    const idx = (k: number) => i * T + pos[k]!;
    // Eqs. 4–9 run in float64 on the row's own values (score, gate threshold, w, its min and max, ŵ, mean ŵ and s
    // all from the same numbers); the float32 breakdown arrays are rounded copies that are never read back.
    // Subtracting a float64 min from a float32-rounded w made ŵ of a constant row (T_i = 1) equal to rounding error / ε
    // instead of 0.
    // Score.
    const score = new Float64Array(Ti);
    for (let k = 0; k < Ti; k++) {
      const c = S[idx(k)]!;
      score[k] = mode === 'paper' ? (c + 1) / 2 : (c - gMin) / (gMax - gMin + eps);
      out.score[idx(k)] = score[k]!;
    }
    // Tail (k is the 0-indexed position, t = k + 1): paper t > (1 − γ)·T_i; code k ≥ floor((1 − γ)·T_i). For an
    // integer k, k + 1 > x ⇔ k ≥ floor(x), so both modes share the start index.
    const start = Math.floor((1 - gamma) * Ti);
    const gate = new Float64Array(Ti);
    const tail = Array.from(score.subarray(start));
    if (gamma > 0 && tail.length > 0) {
      const count = Math.max(1, Math.floor(kappa * tail.length));
      const q = tail.sort((a, b) => b - a)[Math.min(count, tail.length) - 1]!;
      for (let k = start; k < Ti; k++) {
        if (score[k]! >= q) {
          gate[k] = 1;
          out.gate[idx(k)] = 1;
        }
      }
    }
    // Compensation (Eq. 5): paper β·t/T_i (1-indexed t); code β·t0/(T_i − 1) (0 when T_i = 1).
    const w = new Float64Array(Ti);
    let wMin = Infinity;
    let wMax = -Infinity;
    for (let k = 0; k < Ti; k++) {
      const position = mode === 'paper' ? (k + 1) / Ti : Ti > 1 ? k / (Ti - 1) : 0;
      w[k] = score[k]! * (1 + gate[k]! * beta * position);
      out.w[idx(k)] = w[k]!;
      wMin = Math.min(wMin, w[k]!);
      wMax = Math.max(wMax, w[k]!);
    }
    // Eq. 7–9.
    const wHat = new Float64Array(Ti);
    let wHatSum = 0;
    let wSum = 0;
    for (let k = 0; k < Ti; k++) {
      wHat[k] = (w[k]! - wMin) / (wMax - wMin + eps);
      out.wHat[idx(k)] = wHat[k]!;
      wHatSum += wHat[k]!;
      wSum += w[k]!;
    }
    const wHatMean = wHatSum / Ti;
    for (let k = 0; k < Ti; k++) {
      const v = 1 + wHat[k]! - wHatMean;
      intra64[idx(k)] = mode === 'paper' ? v : clamp(v, 0.1, 2.0);
      out.intra[idx(k)] = intra64[idx(k)]!;
    }
    s64[i] = mode === 'paper' ? wSum : wHatSum;
    out.s[i] = s64[i]!;
  }

  // Eq. 10–11 over each group (by prompt id, V-2), rows with image tokens only.
  const groups = new Map<number, number[]>();
  for (let i = 0; i < N; i++) {
    if (!img(i)) continue;
    const g = groupIndex[i]!;
    const members = groups.get(g);
    if (members) members.push(i);
    else groups.set(g, [i]);
  }
  // Same precision rule as Eqs. 5–9: min, max, ŝ and mean ŝ from the float64 s_i.
  for (const members of groups.values()) {
    let sMin = Infinity;
    let sMax = -Infinity;
    for (const i of members) {
      sMin = Math.min(sMin, s64[i]!);
      sMax = Math.max(sMax, s64[i]!);
    }
    const sHat = members.map((i) => (s64[i]! - sMin) / (sMax - sMin + eps));
    const sHatMean = sHat.reduce((a, v) => a + v, 0) / members.length;
    for (const [k, i] of members.entries()) {
      out.sHat[i] = sHat[k]!;
      const v = 1 + sHat[k]! - sHatMean;
      inter64[i] = mode === 'paper' ? v : clamp(v, 0.9, 2.0);
      out.inter[i] = inter64[i]!;
    }
  }

  // Eq. 12: multiplier (≥ 0; 0 on padding; 1 on rows without image tokens).
  for (let i = 0; i < N; i++) {
    for (const t of positions[i]!) {
      const intra = options.intra === false ? 1 : intra64[i * T + t]!;
      const inter = options.inter === false ? 1 : inter64[i]!;
      out.multipliers[i * T + t] = img(i) ? Math.max(0, intra * inter) : 1;
    }
  }
  return out;
}

/**
 * What VGPO's re-weighting did to one batch, over the real tokens of the rows with image tokens (the others are left
 * at 1 and are not counted); each a plain number, logged per RL step (`stepMetrics`):
 * - `vgpo_multiplier_mean`, `vgpo_multiplier_sd`: mean and population sd of the advantage multiplier (Eq. 12) over
 *   those tokens (how strongly the advantage is reshaped; sd 0 means VGPO is GRPO/DAPO up to a scale);
 * - `vgpo_multiplier_first_half`, `vgpo_multiplier_second_half`: its mean over each response's first ⌈T_i/2⌉ tokens
 *   and the rest (where the weight goes: early tokens, e.g. a description of the image, or the tail; NaN-free: a
 *   half with no tokens in the batch reads 0);
 * - `vgpo_gate_fraction`: the fraction of those tokens the compensation gate opened (Eq. 6);
 * - `vgpo_intra_sd`: the population sd of the applied intra-trajectory factor over the tokens (0 with `intra: false`);
 * - `vgpo_inter_sd`: the population sd of the applied inter-trajectory factor over the rows (0 with `inter: false`).
 * All 0 when no row has image tokens. `mask [N, T]` marks real tokens, as in {@link vgpoFromCosines}.
 */
export function vgpoStepMetrics(
  b: VgpoBreakdown,
  mask: ArrayLike<number>,
  N: number,
  T: number,
  options: Pick<VgpoOptions, 'intra' | 'inter'>,
  hasImage?: ArrayLike<number>,
): Record<string, number> {
  const tokens: number[] = [];
  const intra: number[] = [];
  const inter: number[] = [];
  const halves: [number[], number[]] = [[], []];
  let gated = 0;
  for (let i = 0; i < N; i++) {
    if (hasImage && !(hasImage[i]! > 0)) continue;
    const positions: number[] = [];
    for (let t = 0; t < T; t++) if (mask[i * T + t]! > 0) positions.push(t);
    if (positions.length === 0) continue;
    inter.push(options.inter === false ? 1 : b.inter[i]!);
    const firstHalf = Math.ceil(positions.length / 2);
    for (const [k, t] of positions.entries()) {
      const m = b.multipliers[i * T + t]!;
      tokens.push(m);
      intra.push(options.intra === false ? 1 : b.intra[i * T + t]!);
      gated += b.gate[i * T + t]!;
      halves[k < firstHalf ? 0 : 1].push(m);
    }
  }
  const meanOrZero = (xs: number[]) => (xs.length === 0 ? 0 : mean(xs));
  return {
    vgpo_multiplier_mean: meanOrZero(tokens),
    vgpo_multiplier_sd: std(tokens, 'population'),
    vgpo_multiplier_first_half: meanOrZero(halves[0]),
    vgpo_multiplier_second_half: meanOrZero(halves[1]),
    vgpo_gate_fraction: tokens.length === 0 ? 0 : gated / tokens.length,
    vgpo_intra_sd: std(intra, 'population'),
    vgpo_inter_sd: std(inter, 'population'),
  };
}

/**
 * VGPO token re-weighting (METHODS.md §3.2; "Visually-Guided Policy Optimization", arXiv 2604.09349; official code
 * `wzb-bupt/VGPO`): each response token's last-layer hidden state is compared (cosine, Eq. 3) with the mean of the
 * row's image-token hidden states (Eq. 2), late visually-focused tokens are boosted (Eq. 5–6), and the advantage is
 * multiplied by an intra-trajectory factor (Eq. 7–8) times an inter-trajectory factor over the prompt's group
 * (Eq. 9–11). Output: a non-negative constant multiplier `[N, T]` (0 on padding).
 */
export class VgpoTokenWeighter implements TokenWeighter {
  readonly forwardRequest: ForwardRequest = { hiddenStates: true, imageHiddenStates: true };
  private warned = false;
  private lastMetrics: Record<string, number> = {};

  constructor(private readonly options: VgpoOptions) {}

  /** The last {@link weights} call's {@link vgpoStepMetrics} (empty before the first). */
  stepMetrics(): Record<string, number> {
    return { ...this.lastMetrics };
  }

  /** Cosines `S [N, T]` (Eq. 3) and whether each row has image tokens (‖μ_v‖ > 0). */
  static cosines(hidden: tf.Tensor3D, imageHidden: tf.Tensor3D, epsilon: number): { S: tf.Tensor2D; prototypeNorm: tf.Tensor1D } {
    return tf.tidy(() => {
      const [N, , d] = hidden.shape;
      const P = imageHidden.shape[1];
      const mu: tf.Tensor2D = P > 0 ? tf.mean(imageHidden, 1) : tf.zeros([N, d]); // Eq. 2 [N, d]
      const dot = tf.sum(tf.mul(hidden, tf.expandDims(mu, 1)), 2); // [N, T]
      const hNorm = tf.norm(hidden, 'euclidean', 2); // [N, T]
      const muNorm = tf.norm(mu, 'euclidean', 1) as tf.Tensor1D; // [N]
      const S = tf.div(dot, tf.add(tf.mul(hNorm, tf.expandDims(muNorm, 1)), epsilon)) as tf.Tensor2D;
      return { S, prototypeNorm: muNorm };
    });
  }

  async weights(input: WeighterInput): Promise<tf.Tensor2D> {
    const { hiddenStates, imageHiddenStates } = input.forward;
    if (!hiddenStates || !imageHiddenStates) {
      throw new Error('vgpo: the old-policy forward did not provide hiddenStates and imageHiddenStates');
    }
    const [N, T] = input.mask.shape;
    if (hiddenStates.shape[0] !== N || hiddenStates.shape[1] !== T || imageHiddenStates.shape[0] !== N) {
      throw new Error(
        `vgpo: hiddenStates ${JSON.stringify(hiddenStates.shape)} / imageHiddenStates ${JSON.stringify(imageHiddenStates.shape)} do not match the mask [${N}, ${T}]`,
      );
    }
    const { S, prototypeNorm } = VgpoTokenWeighter.cosines(hiddenStates, imageHiddenStates, this.options.epsilon);
    let s: Float32Array;
    let norms: Float32Array;
    let mask: Float32Array;
    try {
      [s, norms, mask] = (await Promise.all([S.data(), prototypeNorm.data(), input.mask.data()])) as [
        Float32Array,
        Float32Array,
        Float32Array,
      ];
    } finally {
      S.dispose();
      prototypeNorm.dispose();
    }
    const hasImage = Array.from(norms, (n) => (n > 0 ? 1 : 0));
    if (!this.warned && hasImage.some((h) => h === 0)) {
      this.warned = true;
      console.warn('vgpo: some prompts have no image tokens; their tokens are not re-weighted (factor 1, METHODS.md V-7)');
    }
    const breakdown = vgpoFromCosines(s, Float32Array.from(mask), input.groupIndex, N, T, this.options, hasImage);
    this.lastMetrics = vgpoStepMetrics(breakdown, mask, N, T, this.options, hasImage);
    return tf.tensor2d(breakdown.multipliers, [N, T]);
  }
}

export const vgpoWeighter = defineStrategy({
  kind: 'token-weighter',
  name: 'vgpo',
  optionsSchema: VgpoOptions,
  docs: {
    summary:
      'VGPO: multiplies each token advantage by intra- and inter-trajectory factors of the cosine between its hidden state and the mean image-token hidden state.',
    paper: 'Visually-Guided Policy Optimization (arXiv 2604.09349)',
    equations: 'VGPO Eqs. (2)–(12); METHODS.md §3.2, V-1..V-7',
  },
  requires: ['hiddenStates', 'imageHiddenStates'],
  create: (options) => new VgpoTokenWeighter(options),
});
