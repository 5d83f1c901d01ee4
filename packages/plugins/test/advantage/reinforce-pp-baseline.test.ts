import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ReinforcePpBaselineAdvantageEstimator,
  reinforcePpBaselineAdvantage,
  reinforcePpBaselineBreakdown,
} from '../../src/advantage/reinforce-pp-baseline.js';
import { maskedWhiten, maskedWhitenStats } from '../../src/advantage/group-stats.js';
import { close, prefixMask, perSequence, F4 } from './fixtures.js';

test('F4 (baseline): a = [0.5, −0.5, −0.25, 0.25], M = −0.03125, V = 0.204241', () => {
  const a = new ReinforcePpBaselineAdvantageEstimator().compute(F4);
  close(a, perSequence([1.175513, -1.037217, -0.484035, 0.62233], [2, 3, 1, 2], 3));
  for (const k of [2, 7, 8, 11]) assert.equal(a[k], 0);
});

test('breakdown: F4 whitening mean and variance (METHODS.md §2.4: M = −0.031250, V = 0.204241)', () => {
  // a per token = [0.5, 0.5 | −0.5 ×3 | −0.25 | 0.25, 0.25], n = 8: Σ m·a = 1 − 1.5 − 0.25 + 0.5 = −0.25, M = −0.03125;
  // Σ (a − M)² = 2·0.53125² + 3·0.46875² + 0.21875² + 2·0.28125² = 0.564453125 + 0.6591796875 + 0.0478515625
  //   + 0.158203125 = 1.4296875; V = 1.4296875 / 7 = 0.204241.
  const est = new ReinforcePpBaselineAdvantageEstimator();
  assert.equal(est.lastBreakdown, undefined);
  const a = est.compute(F4);
  const b = est.lastBreakdown!;
  assert.equal(b.mean, -0.03125);
  assert.ok(Math.abs(b.variance - 1.4296875 / 7) < 1e-15);
  close([b.variance, b.count], [0.204241, 8]);
  close(b.centred, [0.5, 0.5, 0.5, -0.5, -0.5, -0.5, -0.25, -0.25, -0.25, 0.25, 0.25, 0.25], 1e-12);
  assert.deepEqual([...b.advantages], [...a]);
  const pure = reinforcePpBaselineBreakdown(F4);
  assert.equal(pure.variance, b.variance);
  // maskedWhitenStats: x = [1, 3] (n = 2) → M = 2, V = [(1 + 1)/2]·2/1 = 2, out = ±1/sqrt(2 + 1e-8).
  const w = maskedWhitenStats(Float64Array.from([1, 3]), Float32Array.from([1, 1]));
  close([w.mean, w.variance, w.count], [2, 2, 2], 0);
  close(w.whitened, [-0.707107, 0.707107]);
});

test('rows interleaved across groups give the same per-row values', () => {
  // the same F4 rows in the order 2, 0, 3, 1
  const a = new ReinforcePpBaselineAdvantageEstimator().compute({
    rewards: Float64Array.from([0.5, 1, 1, 0]),
    groupIndex: Int32Array.from([1, 0, 1, 0]),
    mask: prefixMask([1, 2, 2, 3], 3),
    tokens: 3,
  });
  close(a, perSequence([-0.484035, 1.175513, 0.62233, -1.037217], [1, 2, 2, 3], 3));
});

test('zero-variance groups give zero advantages, no NaN', () => {
  const a = new ReinforcePpBaselineAdvantageEstimator().compute({ ...F4, rewards: Float64Array.from([1, 1, 0, 0]) });
  close(a, new Array(12).fill(0));
});

test('a row with no valid token is all zero but its reward counts in the group mean', () => {
  // group 0 = rows 0, 1, 2 rewards [1, 0, 1] (row 2 empty): μ = 2/3 → a = [1/3, −2/3, 1/3];
  // group 1 = rows 3, 4 rewards [1, 0.5], lengths 2, 1 → a = [0.25, −0.25]
  // tokens: 1/3 ×2, −2/3 ×3, 0.25 ×2, −0.25 ×1 → n = 8, M = −0.135417, V = 0.228051
  const a = new ReinforcePpBaselineAdvantageEstimator().compute({
    rewards: Float64Array.from([1, 0, 1, 1, 0.5]),
    groupIndex: Int32Array.from([0, 0, 0, 1, 1]),
    mask: prefixMask([2, 3, 0, 2, 1], 3),
    tokens: 3,
  });
  close(a, perSequence([0.98158, -1.112457, 0, 0.807077, -0.239942], [2, 3, 0, 2, 1], 3));
});

test('a group of size 1 is a configuration error', () => {
  assert.throws(
    () => new ReinforcePpBaselineAdvantageEstimator().compute({ ...F4, groupIndex: Int32Array.from([0, 0, 0, 1]) }),
    /REINFORCE\+\+-baseline needs at least 2 trajectories per group; group of row 3 has 1/,
  );
});

test('n ≤ 1 valid tokens in the batch is an error', () => {
  const est = new ReinforcePpBaselineAdvantageEstimator();
  const base = { rewards: Float64Array.from([1, 0]), groupIndex: Int32Array.from([0, 0]), tokens: 2 };
  assert.throws(() => est.compute({ ...base, mask: prefixMask([1, 0], 2) }), /more than 1 valid response token, got Σ m = 1/);
  assert.throws(() => est.compute({ ...base, mask: prefixMask([0, 0], 2) }), /Σ m = 0/);
});

test('maskedWhiten: token-weighted, Bessel-corrected, ignores masked values', () => {
  // valid values [1, 2, 3] (a masked 100 is ignored): M = 2, V = (1 + 0 + 1)/3 · 3/2 = 1
  const out = maskedWhiten(Float64Array.from([1, 100, 2, 3]), Float32Array.from([1, 0, 1, 1]));
  const s = 1 / Math.sqrt(1 + 1e-8);
  close(out, [-s, 0, 0, s]);
  assert.throws(() => maskedWhiten(Float64Array.from([1]), Float32Array.from([1])), /more than 1 valid response token/);
});

test('the strategy has no options', () => {
  assert.equal(reinforcePpBaselineAdvantage.name, 'reinforce-pp-baseline');
  assert.equal(reinforcePpBaselineAdvantage.optionsSchema.additionalProperties, false);
  assert.deepEqual(Object.keys(reinforcePpBaselineAdvantage.optionsSchema.properties), []);
});
