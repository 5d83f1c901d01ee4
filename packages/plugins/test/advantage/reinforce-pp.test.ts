import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReinforcePpAdvantageEstimator, outcomeReturns, reinforcePpAdvantage } from '../../src/advantage/reinforce-pp.js';
import { close, prefixMask, perSequence, F4 } from './fixtures.js';

test('F4 (no baseline, γ = 1): constant within each sequence, zero on padding', () => {
  const a = new ReinforcePpAdvantageEstimator({ gamma: 1 }).compute(F4);
  close(a, perSequence([0.882919, -1.135181, -0.126131, 0.882919], [2, 3, 1, 2], 3));
  // padding positions are exactly 0
  for (const k of [2, 7, 8, 11]) assert.equal(a[k], 0);
});

test('γ < 1: discounted returns from the last valid token (hand-computed)', () => {
  // rows: length 3 and 2 (T = 3), both reward 1, γ = 0.5
  // returns G = [0.25, 0.5, 1 | 0.5, 1, pad]; n = 5, M = 3.25 / 5 = 0.65
  // Σ (G − M)² = 0.16 + 0.0225 + 0.1225 + 0.0225 + 0.1225 = 0.45, V = 0.45 / 5 · 5/4 = 0.1125
  // A = (G − M) / sqrt(0.1125 + 1e-8) → −0.4 / 0.335410 = −1.192570, −0.15 / … = −0.447214, 0.35 / … = 1.043498
  const input = { rewards: Float64Array.from([1, 1]), groupIndex: Int32Array.from([0, 0]), mask: prefixMask([3, 2], 3), tokens: 3 };
  close(outcomeReturns(input.rewards, input.mask, 3, 0.5), [0.25, 0.5, 1, 0.5, 1, 0]);
  const a = new ReinforcePpAdvantageEstimator({ gamma: 0.5 }).compute(input);
  close(a, [-1.19257, -0.447214, 1.043498, -0.447214, 1.043498, 0]);
});

test('γ < 1 on the F4 layout: returns restart at each row, padding stays 0', () => {
  // γ = 0.9: G = [0.9, 1, pad | 0, 0, 0 | 0.5, pad, pad | 0.9, 1, pad]; M = 4.3 / 8 = 0.5375, V = 0.222679
  close(outcomeReturns(F4.rewards, F4.mask, 3, 0.9), [0.9, 1, 0, 0, 0, 0, 0.5, 0, 0, 0.9, 1, 0]);
  const a = new ReinforcePpAdvantageEstimator({ gamma: 0.9 }).compute(F4);
  close(a, [0.76819, 0.980105, 0, -1.139041, -1.139041, -1.139041, -0.079468, 0, 0, 0.76819, 0.980105, 0]);
});

test('γ = 0: only the last valid token keeps the reward', () => {
  close(outcomeReturns(F4.rewards, F4.mask, 3, 0), [0, 1, 0, 0, 0, 0, 0.5, 0, 0, 0, 1, 0]);
});

test('the group index is not used: the whitening spans the whole batch', () => {
  const a = new ReinforcePpAdvantageEstimator({ gamma: 1 }).compute({ ...F4, groupIndex: Int32Array.from([0, 1, 2, 3]) });
  close(a, perSequence([0.882919, -1.135181, -0.126131, 0.882919], [2, 3, 1, 2], 3));
});

test('all returns equal (zero variance) gives zero advantages, no NaN', () => {
  const a = new ReinforcePpAdvantageEstimator({ gamma: 1 }).compute({ ...F4, rewards: Float64Array.from([1, 1, 1, 1]) });
  close(a, new Array(12).fill(0));
});

test('a row with no valid token is all zero and does not change the others', () => {
  const a = new ReinforcePpAdvantageEstimator({ gamma: 1 }).compute({
    rewards: Float64Array.from([1, 0, 0.5, 1, 7]),
    groupIndex: Int32Array.from([0, 0, 1, 1, 1]),
    mask: prefixMask([2, 3, 1, 2, 0], 3),
    tokens: 3,
  });
  close(a, perSequence([0.882919, -1.135181, -0.126131, 0.882919, 0], [2, 3, 1, 2, 0], 3));
});

test('n ≤ 1 valid tokens in the batch is an error', () => {
  const est = new ReinforcePpAdvantageEstimator({ gamma: 1 });
  const one = { rewards: Float64Array.from([1, 0]), groupIndex: Int32Array.from([0, 0]), mask: prefixMask([1, 0], 2), tokens: 2 };
  assert.throws(() => est.compute(one), /more than 1 valid response token, got Σ m = 1/);
  assert.throws(() => est.compute({ ...one, mask: prefixMask([0, 0], 2) }), /Σ m = 0/);
  // two valid tokens is enough
  close(est.compute({ ...one, mask: prefixMask([1, 1], 2) }), [0.707107, 0, -0.707107, 0]);
});

test('options schema: γ defaults to 1, in [0, 1], no extra keys', () => {
  const gamma = reinforcePpAdvantage.optionsSchema.properties.gamma;
  assert.equal(gamma.default, 1);
  assert.equal(gamma.minimum, 0);
  assert.equal(gamma.maximum, 1);
  assert.equal(reinforcePpAdvantage.optionsSchema.additionalProperties, false);
});
