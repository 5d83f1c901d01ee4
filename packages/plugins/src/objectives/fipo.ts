import * as tf from '@tensorflow/tfjs';
import { CloneType, Type, type Static, type TSchema } from '@sinclair/typebox';
import { defineStrategy, type ObjectiveInput, type ObjectiveOutput } from '@mmrl/core';
import { aggregateLoss } from './aggregation.js';
import { PpoClipOptions, PpoClipPolicyObjective } from './ppo-clip.js';

export const FIPO_CLIP_MODES = ['high-only', 'symmetric'] as const;
export type FipoClipMode = (typeof FIPO_CLIP_MODES)[number];

const ppo = PpoClipOptions.properties;

/** A deep copy of a ppo-clip option schema with another default (TypeBox `CloneType` keeps the schema's own). */
function withDefault<T extends TSchema>(schema: T, value: unknown): T {
  return CloneType({ ...schema, default: value });
}

/** Every ppo-clip option (DAPO-style defaults, METHODS.md §3.5 host recipe) plus the FIPO weight options. */
export const FipoOptions = Type.Object(
  {
    ...ppo,
    clipHigh: withDefault(ppo.clipHigh, 0.28),
    dualClip: withDefault(ppo.dualClip, 10),
    aggregation: withDefault(ppo.aggregation, 'token-mean'),
    klCoefficient: withDefault(ppo.klCoefficient, 0),
    decay: Type.Number({
      exclusiveMinimum: 0,
      default: 32,
      description: 'τ: half-life of the Future-KL discount in tokens, γ = 2^(−1/τ) (F-2).',
    }),
    fipoEpsilon: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.2,
      description: 'ε_f: the weight exp(FKL) is clipped to [1, 1 + ε_f] (high-only) or [1 − ε_f, 1 + ε_f] (symmetric).',
    }),
    clipMode: Type.Union(
      FIPO_CLIP_MODES.map((m) => Type.Literal(m)),
      { default: 'high-only', description: 'Weight clip range: high-only [1, 1 + ε_f] (ms-swift default, F-1) or symmetric.' },
    ),
    safetyThreshold: Type.Number({
      exclusiveMinimum: 0,
      default: 4.0,
      description: 's_thr: tokens with A < 0 and ratio r > s_thr get their weight clipped to [0.8, 1.0].',
    }),
    participationRatio: Type.Number({
      exclusiveMinimum: 0,
      default: 10,
      description: 'c_dual: tokens with ratio r > c_dual do not contribute to the Future-KL (F-3).',
    }),
  },
  { additionalProperties: false },
);
export type FipoOptions = Static<typeof FipoOptions>;

/** The FIPO weight options of `futureKlWeights`. */
export type FutureKlOptions = Pick<FipoOptions, 'decay' | 'fipoEpsilon' | 'clipMode' | 'safetyThreshold' | 'participationRatio'>;

/** γ = 2^(−1/τ). */
export function fipoGamma(decay: number): number {
  return Math.pow(2, -1 / decay);
}

/**
 * Reference (host) FIPO weights (METHODS.md §3.5, fixture F11) for N sequences of `tokens` tokens, row-major:
 *   M_t = m_t·1[r_t ≤ c_dual],  FKL_t = m_t · Σ_{k≥t} γ^{k−t} M_k Δ_k,  f_t = clip(exp(FKL_t), lo, 1 + ε_f),
 *   safety: A_t < 0 and r_t > s_thr ⇒ f_t ← clip(f_t, 0.8, 1.0).
 * `tokens` defaults to `delta.length` (one sequence).
 */
export function futureKlWeights(
  delta: Float32Array,
  ratio: Float32Array,
  mask: Float32Array,
  advantages: Float32Array,
  opts: FutureKlOptions & { tokens?: number },
): { futureKl: Float32Array; weights: Float32Array } {
  const T = opts.tokens ?? delta.length;
  const n = T > 0 ? delta.length / T : 0;
  if (!Number.isInteger(n)) throw new Error(`futureKlWeights: length ${delta.length} is not a multiple of tokens ${T}`);
  const gamma = fipoGamma(opts.decay);
  const hi = 1 + opts.fipoEpsilon;
  const lo = opts.clipMode === 'high-only' ? 1 : 1 - opts.fipoEpsilon;
  const futureKl = new Float32Array(delta.length);
  const weights = new Float32Array(delta.length);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let t = T - 1; t >= 0; t--) {
      const j = i * T + t;
      const participates = mask[j]! > 0 && ratio[j]! <= opts.participationRatio;
      acc = gamma * acc + (participates ? delta[j]! : 0);
      const fkl = mask[j]! > 0 ? acc : 0;
      futureKl[j] = fkl;
      let f = Math.min(Math.max(Math.exp(fkl), lo), hi);
      if (advantages[j]! < 0 && ratio[j]! > opts.safetyThreshold) f = Math.min(Math.max(f, 0.8), 1.0);
      weights[j] = f;
    }
  }
  return { futureKl, weights };
}

/**
 * stopgrad(x): a new tensor sharing x's data that is not connected to the gradient tape, so nothing downstream
 * (including ops without a gradient, such as `less` on the weighted advantages in the dual clip) back-propagates
 * into x's inputs. tfjs has no public stop-gradient; `customGrad` with a zero gradient would keep the tape path.
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const backend = tf.backend();
  backend.incRef(x.dataId);
  return tf.engine().makeTensorFromDataId(x.dataId, x.shape, x.dtype, backend) as T;
}

/** Column-block width of the Future-KL matMul: memory is O(T · FKL_CHUNK) instead of O(T²). */
const FKL_CHUNK = 256;

/** `[rows, cols]` block of the decay matrix D[k, t] = γ^{k−t} for k ≥ t, else 0. */
function decayBlock(rows: number, cols: number, gamma: number): tf.Tensor2D {
  return tf.tidy(() => {
    const dist = tf.sub(tf.expandDims(tf.range(0, rows, 1, 'float32'), 1), tf.expandDims(tf.range(0, cols, 1, 'float32'), 0));
    const decayed = tf.exp(tf.mul(tf.relu(dist), Math.log(gamma)));
    return tf.where(tf.greaterEqual(dist, 0), decayed, tf.zerosLike(decayed)) as tf.Tensor2D;
  });
}

/**
 * FIPO — Future-KL influenced policy optimisation (METHODS.md §3.5; arXiv 2603.19835; ms-swift
 * `compute_fipo_influence`). The PPO clipped surrogate of `ppo-clip` (§5.1) with each token advantage multiplied by a
 * weight computed from the live log-probs and detached:
 *   Δ = ℓθ − ℓold,  r = exp(clamp(Δ, −20, 20)),  M = m·1[r ≤ c_dual],
 *   FKL_t = Σ_{k≥t} γ^{k−t} M_k Δ_k  (γ = 2^(−1/τ); 0 on padding),
 *   f = clip(exp(FKL), lo, 1 + ε_f)  (lo = 1 high-only, 1 − ε_f symmetric),
 *   safety: A < 0 and r > s_thr ⇒ f ← clip(f, 0.8, 1.0),
 *   Ã = A · stopgrad(f),  loss = ppo-clip(ℓθ, ℓold, Ã).
 * At θ = θold (Δ = 0) f = 1 and the loss is ppo-clip's. Inputs `[N, T]`; output a scalar.
 */
export class FipoPolicyObjective extends PpoClipPolicyObjective {
  private readonly fipo: FipoOptions;

  constructor(options: FipoOptions) {
    super(options);
    this.fipo = options;
  }

  /** The detached FIPO weight `[N, T]` (no gradient flows into `logprobs` through it). */
  weights(logprobs: tf.Tensor2D, oldLogprobs: tf.Tensor2D, advantages: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor2D {
    const { decay, fipoEpsilon, clipMode, safetyThreshold, participationRatio } = this.fipo;
    const gamma = fipoGamma(decay);
    const hi = 1 + fipoEpsilon;
    const lo = clipMode === 'high-only' ? 1 : 1 - fipoEpsilon;
    return tf.tidy(() => {
      const delta = tf.sub(logprobs, oldLogprobs);
      const ratio = tf.exp(tf.clipByValue(delta, -20, 20));
      const valid = tf.greater(mask, 0);
      const participates = tf.logicalAnd(valid, tf.lessEqual(ratio, participationRatio));
      const x = tf.where(participates, delta, tf.zerosLike(delta)) as tf.Tensor2D;
      const T = x.shape[1];
      const blocks: tf.Tensor2D[] = [];
      for (let c0 = 0; c0 < T; c0 += FKL_CHUNK) {
        const c1 = Math.min(T, c0 + FKL_CHUNK);
        const rows = T - c0;
        const xs = c0 === 0 ? x : (tf.slice(x, [0, c0], [-1, rows]) as tf.Tensor2D);
        blocks.push(tf.matMul(xs, decayBlock(rows, c1 - c0, gamma)));
      }
      const fklRaw = blocks.length === 1 ? blocks[0]! : tf.concat(blocks, 1);
      const fkl = tf.where(valid, fklRaw, tf.zerosLike(fklRaw));
      const f = tf.clipByValue(tf.exp(fkl), lo, hi);
      const unsafe = tf.logicalAnd(tf.less(advantages, 0), tf.greater(ratio, safetyThreshold));
      return stopGradient(tf.where(unsafe, tf.clipByValue(f, 0.8, 1.0), f) as tf.Tensor2D);
    });
  }

  override loss(input: ObjectiveInput): ObjectiveOutput {
    if (this.fipo.klCoefficient > 0 && !input.referenceLogprobs) {
      throw new Error('fipo: klCoefficient > 0 needs reference-policy logprobs, none were given');
    }
    return tf.tidy(() => {
      const f = this.weights(input.logprobs, input.oldLogprobs, input.advantages, input.mask);
      const { loss, metrics } = super.loss({ ...input, advantages: tf.mul(input.advantages, f) as tf.Tensor2D });
      metrics['fipo_weight_mean'] = aggregateLoss(f, input.mask, 'token-mean', input.denominators);
      return { loss, metrics };
    });
  }
}

export const fipoObjective = defineStrategy({
  kind: 'policy-objective',
  name: 'fipo',
  optionsSchema: FipoOptions,
  docs: {
    summary:
      'FIPO: ppo-clip (DAPO defaults) on advantages scaled by a detached weight clip(exp(discounted future KL of the live update)), with a safety cap for negative advantages.',
    paper: 'FIPO (arXiv 2603.19835); DAPO (arXiv 2503.14476) host surrogate',
    equations: 'METHODS.md §3.5, §5.1–5.3',
  },
  requires: ['logprobs', 'behaviourLogprobs'],
  create: (options) => new FipoPolicyObjective(options),
});
