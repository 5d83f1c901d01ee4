import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import {
  ReinforcePpAdvantageEstimator,
  ReinforcePpOptions,
  discountedReturns,
  outcomeReturns,
  outcomeTokenRewards,
  reinforcePpAdvantage,
  reinforcePpBreakdown,
} from '../../src/advantage/reinforce-pp.js';
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

test('options schema: γ defaults to 1, in [0, 1]; klCoefficient defaults to 0 (off), ≥ 0; no extra keys', () => {
  const gamma = reinforcePpAdvantage.optionsSchema.properties.gamma;
  assert.equal(gamma.default, 1);
  assert.equal(gamma.minimum, 0);
  assert.equal(gamma.maximum, 1);
  const kl = reinforcePpAdvantage.optionsSchema.properties.klCoefficient;
  assert.equal(kl.default, 0);
  assert.equal(kl.minimum, 0);
  assert.deepEqual(Value.Default(ReinforcePpOptions, {}), { gamma: 1, klCoefficient: 0 });
  assert.equal(reinforcePpAdvantage.optionsSchema.additionalProperties, false);
  // Defaults keep today's behaviour: no reference policy is needed.
  assert.equal(new ReinforcePpAdvantageEstimator({ gamma: 1, klCoefficient: 0 }).needsReference, false);
  assert.equal(new ReinforcePpAdvantageEstimator({ gamma: 1 }).needsReference, false);
  assert.equal(new ReinforcePpAdvantageEstimator({ gamma: 1, klCoefficient: 0.01 }).needsReference, true);
});

test('breakdown: F4 whitening mean and variance (METHODS.md §2.4)', () => {
  // returns per token [1, 1 | 0, 0, 0 | 0.5 | 1, 1], n = 8, M = 4.5 / 8 = 0.5625;
  // Σ (G − M)² = 4·0.4375² + 3·0.5625² + 0.0625² = 0.765625 + 0.94921875 + 0.00390625 = 1.71875;
  // V = 1.71875 / 8 · 8/7 = 0.245536.
  const est = new ReinforcePpAdvantageEstimator({ gamma: 1 });
  assert.equal(est.lastBreakdown, undefined);
  const a = est.compute(F4);
  const b = est.lastBreakdown!;
  close([b.mean, b.variance, b.count], [0.5625, 0.245536, 8]);
  assert.equal(b.mean, 4.5 / 8);
  assert.ok(Math.abs(b.variance - 1.71875 / 7) < 1e-15);
  assert.deepEqual([...b.advantages], [...a]);
  close(b.returns, [1, 1, 0, 0, 0, 0, 0.5, 0, 0, 1, 1, 0]);
  close(b.tokenRewards, [0, 1, 0, 0, 0, 0, 0.5, 0, 0, 0, 1, 0]);
  assert.ok(b.kl.every((v) => v === 0), 'KL in the reward is off');
  // The pure function gives the same numbers.
  const pure = reinforcePpBreakdown(F4, { gamma: 1 });
  assert.equal(pure.mean, b.mean);
  assert.equal(pure.variance, b.variance);
  // γ = 0.5 on lengths 3 and 2 (see above): M = 0.65, V = 0.1125.
  const g = reinforcePpBreakdown({ rewards: Float64Array.from([1, 1]), groupIndex: Int32Array.from([0, 0]), mask: prefixMask([3, 2], 3), tokens: 3 }, { gamma: 0.5 });
  close([g.mean, g.variance, g.count], [0.65, 0.1125, 5], 1e-12);
});

// KL in the reward (METHODS.md §2.4, §5.2): two rows of length 2 (T = 3, the last column is padding), R = [1, 0],
// β_KL = 0.1, ℓold = [[−1, −2, −9], [−0.5, −1, −9]], ℓref = [[−1.5, −2, 0], [−0.5, −0.5, 0]].
const KL_INPUT = {
  rewards: Float64Array.from([1, 0]),
  groupIndex: Int32Array.from([0, 0]),
  mask: prefixMask([2, 2], 3),
  tokens: 3,
  oldLogprobs: Float32Array.from([-1, -2, -9, -0.5, -1, -9]),
  referenceLogprobs: Float32Array.from([-1.5, -2, 0, -0.5, -0.5, 0]),
};

test('KL in the reward: ρ = R·1[last] − β·k1 per valid token, then returns and whitening (hand-computed)', () => {
  // k1 = (ℓold − ℓref)·m = [0.5, 0, pad 0 | 0, −0.5, pad 0]   (the padding's −9 vs 0 is ignored)
  // ρ = [−0.05, 1 − 0, 0 | 0, 0 + 0.05, 0]
  // γ = 1: G = [0.95, 1, 0 | 0.05, 0.05, 0]; n = 4, M = 2.05 / 4 = 0.5125;
  //   Σ (G − M)² = 0.4375² + 0.4875² + 2·0.4625² = 0.19140625 + 0.23765625 + 0.4278125 = 0.856875, V = 0.856875 / 3 = 0.285625;
  //   A = (G − M) / sqrt(0.285625 + 1e-8): 0.4375 → 0.818615, 0.4875 → 0.912172, −0.4625 → −0.865393.
  const est = new ReinforcePpAdvantageEstimator({ gamma: 1, klCoefficient: 0.1 });
  const a = est.compute(KL_INPUT);
  const b = est.lastBreakdown!;
  close(b.kl, [0.5, 0, 0, 0, -0.5, 0], 1e-7);
  close(b.tokenRewards, [-0.05, 1, 0, 0, 0.05, 0], 1e-7);
  close(b.returns, [0.95, 1, 0, 0.05, 0.05, 0], 1e-7);
  close([b.mean, b.variance, b.count], [0.5125, 0.285625, 4], 1e-7);
  close(a, [0.818615, 0.912172, 0, -0.865393, -0.865393, 0]);
  // γ = 0.5: G = [−0.05 + 0.5·1, 1, 0 | 0 + 0.5·0.05, 0.05, 0] = [0.45, 1, 0 | 0.025, 0.05, 0]; M = 1.525 / 4 = 0.38125;
  //   Σ (G − M)² = 0.06875² + 0.61875² + 0.35625² + 0.33125² = 0.62421875, V = 0.208073;
  //   A = [0.150718, 1.356461, 0 | −0.780993, −0.726186, 0].
  const d = reinforcePpBreakdown(KL_INPUT, { gamma: 0.5, klCoefficient: 0.1 });
  close(d.returns, [0.45, 1, 0, 0.025, 0.05, 0], 1e-7);
  close([d.mean, d.variance], [0.38125, 0.208073], 1e-6);
  close(d.advantages, [0.150718, 1.356461, 0, -0.780993, -0.726186, 0]);
});

test('KL in the reward: β = 0 ignores the logprobs (F4 unchanged); ℓref = ℓold gives the plain estimator', () => {
  const withLogprobs = { ...F4, oldLogprobs: new Float32Array(12).fill(-1), referenceLogprobs: new Float32Array(12).fill(-3) };
  close(new ReinforcePpAdvantageEstimator({ gamma: 1, klCoefficient: 0 }).compute(withLogprobs), perSequence([0.882919, -1.135181, -0.126131, 0.882919], [2, 3, 1, 2], 3));
  const same = { ...F4, oldLogprobs: new Float32Array(12).fill(-1.25), referenceLogprobs: new Float32Array(12).fill(-1.25) };
  close(new ReinforcePpAdvantageEstimator({ gamma: 1, klCoefficient: 0.5 }).compute(same), perSequence([0.882919, -1.135181, -0.126131, 0.882919], [2, 3, 1, 2], 3));
  // A constant k1 = 0.2 on every valid token with γ = 1 shifts G_{i,t} by −β·0.2·(tokens from t to the end): the
  // first token of a longer row loses more, so the advantages are no longer constant within a row.
  const shifted = { ...F4, oldLogprobs: new Float32Array(12).fill(-1), referenceLogprobs: new Float32Array(12).fill(-1.2) };
  const b = reinforcePpBreakdown(shifted, { gamma: 1, klCoefficient: 0.5 });
  // row 1 (length 3, R = 0): ρ = [−0.1, −0.1, −0.1] → G = [−0.3, −0.2, −0.1]
  close(b.returns.slice(3, 6), [-0.3, -0.2, -0.1], 1e-7);
  // row 0 (length 2, R = 1): ρ = [−0.1, 0.9] → G = [0.8, 0.9]; padding stays 0
  close(b.returns.slice(0, 3), [0.8, 0.9, 0], 1e-7);
});

test('KL in the reward: missing or mis-sized logprobs are errors', () => {
  const est = new ReinforcePpAdvantageEstimator({ gamma: 1, klCoefficient: 0.1 });
  assert.throws(() => est.compute(F4), /klCoefficient = 0\.1 \(KL in the reward\) needs oldLogprobs and referenceLogprobs/);
  assert.throws(() => est.compute({ ...F4, oldLogprobs: new Float32Array(12) }), /needs oldLogprobs and referenceLogprobs/);
  assert.throws(
    () => est.compute({ ...F4, oldLogprobs: new Float32Array(12), referenceLogprobs: new Float32Array(11) }),
    /referenceLogprobs has length 11, expected N·T = 12/,
  );
});

test('token rewards and returns helpers: outcome on the last valid token; returns reset after EOS', () => {
  close(outcomeTokenRewards(F4.rewards, F4.mask, 3), [0, 1, 0, 0, 0, 0, 0.5, 0, 0, 0, 1, 0]);
  // ρ = [1, 1, 5] with mask [1, 1, 0], γ = 1: t = 2: running = 5, G = 5, running·0 = 0; t = 1: G = 1; t = 0: G = 2.
  // A value on a padded position does not flow into the valid tokens before it (EasyR1's reset).
  close(discountedReturns(Float64Array.from([1, 1, 5]), Float32Array.from([1, 1, 0]), 3, 1), [2, 1, 5]);
  assert.throws(() => discountedReturns(new Float64Array(2), new Float32Array(3), 3, 1), /token rewards have length 2, mask 3/);
});
