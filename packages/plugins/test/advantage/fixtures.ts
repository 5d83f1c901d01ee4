import assert from 'node:assert/strict';

/** Element-wise comparison with a tolerance (METHODS.md fixtures are rounded to 6 decimals). */
export const close = (actual: ArrayLike<number>, expected: number[], tol = 1e-5) => {
  assert.equal(actual.length, expected.length);
  expected.forEach((e, i) => assert.ok(Math.abs(actual[i]! - e) <= tol, `index ${i}: ${actual[i]} vs ${e}`));
};

/** One token per trajectory so the [N, T] output equals the sequence advantages. */
export const input = (rewards: number[], groups?: number[]) => ({
  rewards: Float64Array.from(rewards),
  groupIndex: Int32Array.from(groups ?? rewards.map(() => 0)),
  mask: new Float32Array(rewards.length).fill(1),
  tokens: 1,
});

/** Prefix mask `[N, T]` from response lengths. */
export const prefixMask = (lengths: number[], tokens: number) =>
  Float32Array.from(lengths.flatMap((l) => Array.from({ length: tokens }, (_, t) => (t < l ? 1 : 0))));

/** Expands per-sequence values over a prefix mask (0 on padding). */
export const perSequence = (values: number[], lengths: number[], tokens: number) =>
  values.flatMap((v, i) => Array.from({ length: tokens }, (_, t) => (t < lengths[i]! ? v : 0)));

/** F4: 2 groups × 2 responses, lengths 2, 3, 1, 2 (T = 3), rewards g1 = [1, 0], g2 = [0.5, 1.0]. */
export const F4 = {
  rewards: Float64Array.from([1, 0, 0.5, 1]),
  groupIndex: Int32Array.from([0, 0, 1, 1]),
  mask: prefixMask([2, 3, 1, 2], 3),
  tokens: 3,
};
