import * as tf from '@tensorflow/tfjs';
import type { Policy, SequenceBatch } from '../contracts/policy.js';
import type { LossDenominators, ObjectiveRatioOverride, PolicyObjective } from '../contracts/policy-objective.js';
import type { RatioOverride } from '../contracts/token-weighter.js';
import { disposeBatch } from '../rollout/batch.js';
import type { GradientAccumulator } from './optimizer.js';

/** A collated rollout batch with everything the update needs (all `[N, T]`, constant). */
export interface UpdateBatch {
  batch: SequenceBatch;
  /**
   * Behaviour logprobs `[N, T]`, the denominator of the PPO ratio: log πθold for on-policy rows, the producing
   * policy's logprobs for off-policy rows (expert ℓφ; 0 for rectified rows).
   */
  oldLogprobs: tf.Tensor2D;
  /** log πref `[N, T]` when the objective has a KL term. */
  referenceLogprobs: tf.Tensor2D | null;
  /** Token advantages after token weighting `[N, T]`. */
  advantages: tf.Tensor2D;
  /**
   * The loss mask, row-major `[N·T]`: the response mask times every override's loss mask (host copy of
   * {@link lossMask}); the denominators count it.
   */
  mask: Float32Array;
  /** `[N, T]` loss mask given to the objective; absent = `batch.responseMask`. */
  lossMask?: tf.Tensor2D | null;
  /** Ratio overrides of the token weighters (METHODS.md §1.3 (b)); none = plain ratios. */
  overrides?: readonly RatioOverride[];
  /** Padded response length T. */
  tokens: number;
}

/**
 * Loss denominators of a mini-batch (METHODS.md §5.3): valid tokens and sequences with at least one valid token
 * over all of `rows`, and the constant L_max.
 */
export function miniBatchDenominators(mask: Float32Array, tokens: number, rows: readonly number[], maxLength: number): LossDenominators {
  let count = 0;
  let sequences = 0;
  for (const r of rows) {
    let len = 0;
    for (let t = 0; t < tokens; t++) len += mask[r * tokens + t]!;
    count += len;
    if (len > 0) sequences++;
  }
  return { tokens: count, sequences, maxLength };
}

/** Splits a mini-batch's rows into micro-batches of `size` rows (0 or ≥ rows: one micro-batch). */
export function microBatches(rows: readonly number[], size: number): number[][] {
  if (size <= 0 || size >= rows.length) return [[...rows]];
  const out: number[][] = [];
  for (let s = 0; s < rows.length; s += size) out.push(rows.slice(s, s + size));
  return out;
}

export interface MiniBatchOptions {
  /** Rows per forward pass (0 = the whole mini-batch). */
  microBatchSize: number;
  /** Scoring temperature (the rollout temperature, METHODS.md G-8). */
  temperature: number;
  /** L_max of seq-mean-token-sum-norm. */
  maxLength: number;
}

/**
 * Adds the gradient of one mini-batch's loss to `acc`, one forward/backward pass per micro-batch: each micro-batch's
 * objective gets the denominators of the whole mini-batch, so the summed shares equal the unsplit mini-batch loss
 * (and its gradient), whatever the split. The caller then makes one update (`acc.apply`).
 * @param rows row indices of the mini-batch in `data`.
 */
export function accumulateMiniBatch(
  acc: GradientAccumulator,
  policy: Policy,
  objective: PolicyObjective,
  data: UpdateBatch,
  rows: readonly number[],
  options: MiniBatchOptions,
): void {
  const n = data.batch.responseTokens.shape[0];
  const denominators = miniBatchDenominators(data.mask, data.tokens, rows, options.maxLength);
  for (const part of microBatches(rows, options.microBatchSize)) {
    const whole = part.length === n && part.every((r, i) => r === i);
    const index = whole ? null : tf.tensor1d(part, 'int32');
    const mb = index ? gatherBatch(data.batch, index) : data.batch;
    const old = index ? tf.gather(data.oldLogprobs, index) : data.oldLogprobs;
    const adv = index ? tf.gather(data.advantages, index) : data.advantages;
    const ref = data.referenceLogprobs ? (index ? tf.gather(data.referenceLogprobs, index) : data.referenceLogprobs) : null;
    const lossMask = data.lossMask ? (index ? tf.gather(data.lossMask, index) : data.lossMask) : null;
    const overrides = (data.overrides ?? []).map((o) => ({
      source: o,
      tokens: index ? (tf.gather(o.tokens, index) as tf.Tensor2D) : o.tokens,
      constants: Object.fromEntries(
        Object.entries(o.constants).map(([k, v]) => [k, index ? (tf.gather(v, index) as tf.Tensor2D) : v]),
      ),
    }));
    try {
      acc.add(() => {
        const { logprobs } = policy.forward(mb, { temperature: options.temperature });
        const ratioOverrides: ObjectiveRatioOverride[] = overrides.map((o) => ({
          tokens: o.tokens,
          ratio: o.source.ratio(logprobs, o.constants),
          clip: o.source.clip,
        }));
        return objective.loss({
          logprobs,
          oldLogprobs: old,
          advantages: adv,
          mask: lossMask ?? mb.responseMask,
          ...(ref ? { referenceLogprobs: ref } : {}),
          denominators,
          ...(ratioOverrides.length > 0 ? { ratioOverrides } : {}),
        });
      });
    } finally {
      if (index) {
        index.dispose();
        disposeBatch(mb);
        tf.dispose([old, adv, ...(ref ? [ref] : []), ...(lossMask ? [lossMask] : [])]);
        for (const o of overrides) tf.dispose([o.tokens, ...Object.values(o.constants)]);
      }
    }
  }
}

/** Rows `index` of a batch (new tensors). */
export function gatherBatch(batch: SequenceBatch, index: tf.Tensor1D): SequenceBatch {
  return {
    images: tf.gather(batch.images, index),
    promptTokens: tf.gather(batch.promptTokens, index),
    promptMask: tf.gather(batch.promptMask, index),
    responseTokens: tf.gather(batch.responseTokens, index),
    responseMask: tf.gather(batch.responseMask, index),
  };
}
