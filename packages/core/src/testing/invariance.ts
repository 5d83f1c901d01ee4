import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { assertClose } from './strategy-tester.js';

type Numbers = ArrayLike<number> | number;

const toArray = (v: Numbers): number[] => (typeof v === 'number' ? [v] : Array.from(v));

/** Options of {@link assertSplitInvariant}. */
export interface SplitInvarianceCheck {
  /** Number of rows (trajectories) of the whole batch. */
  rows: number;
  /**
   * Value computed on a subset of rows (a micro-batch), e.g. a loss with the whole mini-batch's denominators, or a
   * gradient scattered back to a fixed-length vector. Must always return the same number of values.
   */
  evaluate: (rows: readonly number[]) => Numbers | Promise<Numbers>;
  /**
   * Partitions of `0 … rows − 1` to try. Default: every row alone, and (for ≥ 3 rows) the first half versus the rest.
   */
  splits?: readonly (readonly (readonly number[])[])[];
  /** Absolute tolerance (1e-5). */
  tolerance?: number;
  label?: string;
}

/**
 * (f) Split invariance (METHODS.md §5.3): for each partition of the rows, the element-wise sum of `evaluate(part)`
 * over the parts equals `evaluate(all rows)`. This is what gradient accumulation over micro-batches relies on.
 * @throws AssertionError when a split is not a partition of the rows, or naming the split and the index that differs.
 */
export async function assertSplitInvariant(check: SplitInvarianceCheck): Promise<void> {
  const { rows, evaluate } = check;
  const label = check.label ?? 'split invariance';
  const all = Array.from({ length: rows }, (_, i) => i);
  const splits = check.splits ?? [
    all.map((r) => [r]),
    ...(rows >= 3 ? [[all.slice(0, Math.floor(rows / 2)), all.slice(Math.floor(rows / 2))]] : []),
  ];
  const whole = toArray(await evaluate(all));
  for (const split of splits) {
    const covered = split.flat().slice().sort((a, b) => a - b);
    assert.deepEqual(covered, all, `${label}: split ${JSON.stringify(split)} is not a partition of rows 0…${rows - 1}`);
    const sum = new Array<number>(whole.length).fill(0);
    for (const part of split) {
      const values = toArray(await evaluate(part));
      assert.equal(values.length, whole.length, `${label}: evaluate(${JSON.stringify(part)}) gave ${values.length} values, the whole batch ${whole.length}`);
      values.forEach((v, i) => (sum[i]! += v));
    }
    assertClose(sum, whole, check.tolerance ?? 1e-5, `${label} (sum over split ${JSON.stringify(split)} vs whole batch)`);
  }
}

/** Options of {@link assertPaddingInvariant}. */
export interface PaddingInvarianceCheck {
  /**
   * Value computed with `extra` masked padding columns appended (mask 0; see {@link padColumns}), e.g. a loss or the
   * gradient of the unpadded positions. `extra = 0` is the reference.
   */
  evaluate: (extra: number) => Numbers | Promise<Numbers>;
  /** Padding widths to compare with `extra = 0` (default `[1, 3]`). */
  extra?: readonly number[];
  tolerance?: number;
  label?: string;
}

/**
 * (f) Padding invariance: appending masked padding tokens changes nothing (`evaluate(k) ≈ evaluate(0)`), i.e. no mean
 * divides by the padded length and no padded token leaks into a statistic.
 * @throws AssertionError naming the padding width and the index that differs.
 */
export async function assertPaddingInvariant(check: PaddingInvarianceCheck): Promise<void> {
  const label = check.label ?? 'padding invariance';
  const reference = toArray(await check.evaluate(0));
  for (const extra of check.extra ?? [1, 3]) {
    assertClose(await check.evaluate(extra), reference, check.tolerance ?? 1e-5, `${label} (${extra} padding column(s) vs none)`);
  }
}

/** `t` `[N, T]` with `extra` columns of `value` appended: `[N, T + extra]` (a new tensor; the caller disposes it). */
export function padColumns(t: tf.Tensor2D, extra: number, value = 0): tf.Tensor2D {
  return tf.tidy(() => (extra === 0 ? t.clone() : tf.concat([t, tf.fill([t.shape[0], extra], value)], 1))) as tf.Tensor2D;
}

/** Options of {@link assertZeroWeightZeroGradient}. */
export interface ZeroWeightCheck {
  /**
   * The loss as a function of the differentiable logprobs `[N, T]` and an advantage multiplier `[N, T]` (for an
   * objective: `objective.loss({ …, logprobs, advantages: A · multiplier }).loss`; for a weighter: the objective fed
   * with `A · weighter.weights(…) · multiplier`). Runs inside `tf.grad`, so its intermediates are released.
   */
  loss: (logprobs: tf.Tensor2D, multiplier: tf.Tensor2D) => tf.Scalar;
  /** Point at which the gradient is taken `[N, T]` (not disposed by the check). */
  logprobs: tf.Tensor2D;
  /**
   * Also check token locality: with a checkerboard multiplier, every token whose multiplier is 0 gets zero gradient
   * (default true; turn off for losses that couple tokens, e.g. a KL term).
   */
  tokenLocal?: boolean;
  tolerance?: number;
  label?: string;
}

/**
 * (f) Zero advantage multiplier ⇒ zero gradient (weighters and objectives): with multiplier 0 everywhere the gradient
 * w.r.t. the logprobs is 0 everywhere; with multiplier 1 it is not (else the check proves nothing); with
 * `tokenLocal`, tokens whose multiplier is 0 get zero gradient. No tensor may leak.
 * @throws AssertionError naming the token `[i, t]` with a non-zero gradient, "gradient is zero even with multiplier 1",
 *   or "leaked N tensor(s)".
 */
export async function assertZeroWeightZeroGradient(check: ZeroWeightCheck): Promise<void> {
  const label = check.label ?? 'zero weight ⇒ zero gradient';
  const tol = check.tolerance ?? 1e-7;
  const [n, t] = check.logprobs.shape;
  const before = tf.memory().numTensors;
  const gradientWith = async (pattern: (i: number, j: number) => number): Promise<Float32Array> => {
    const values = new Float32Array(n * t);
    for (let i = 0; i < n; i++) for (let j = 0; j < t; j++) values[i * t + j] = pattern(i, j);
    const multiplier = tf.tensor2d(values, [n, t]);
    try {
      const g = tf.grad((lp: tf.Tensor) => check.loss(lp as tf.Tensor2D, multiplier))(check.logprobs);
      const data = (await g.data()) as Float32Array;
      g.dispose();
      return data;
    } finally {
      multiplier.dispose();
    }
  };
  const nonZeroAt = (g: Float32Array, only: (i: number, j: number) => boolean) => {
    for (let i = 0; i < n; i++)
      for (let j = 0; j < t; j++) if (only(i, j) && !(Math.abs(g[i * t + j]!) <= tol)) return `[${i}, ${j}] = ${g[i * t + j]}`;
    return null;
  };

  const zero = await gradientWith(() => 0);
  const offZero = nonZeroAt(zero, () => true);
  assert.equal(offZero, null, `${label}: multiplier 0 everywhere, but the gradient at ${offZero} is not 0 (± ${tol})`);
  const one = await gradientWith(() => 1);
  assert.ok(nonZeroAt(one, () => true) !== null, `${label}: gradient is zero even with multiplier 1 (the check proves nothing)`);
  if (check.tokenLocal ?? true) {
    const board = (i: number, j: number) => ((i + j) % 2 === 0 ? 1 : 0);
    const g = await gradientWith(board);
    const off = nonZeroAt(g, (i, j) => board(i, j) === 0);
    assert.equal(off, null, `${label}: token with multiplier 0 has gradient ${off} (checkerboard multiplier)`);
  }
  const after = tf.memory().numTensors;
  assert.equal(after, before, `${label}: leaked ${after - before} tensor(s)`);
}
