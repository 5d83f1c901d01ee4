import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Value } from '@sinclair/typebox/value';
import {
  POLICY,
  TASK,
  Tokenizer,
  type DependencyContainer,
  type ForwardOptions,
  type ForwardOutputs,
  type Policy,
  type Prompt,
  type SequenceBatch,
  type StrategyContext,
  type Task,
} from '@mmrl/core';
import {
  DurianAdvantageEstimator,
  DurianOptions,
  durianAdvantage,
  durianSequenceAdvantages,
  durianStepMetrics,
  groupSequenceLogprobs,
  linearQuantile,
  perceptualBucketOf,
  quantileEdges,
  quantilePosition,
  rationalQuantile,
  reasoningBucketOf,
} from '../../src/advantage/durian.js';
import { GrpoAdvantageEstimator } from '../../src/advantage/grpo.js';
import { jacobiEigenvalues, patchCovarianceEigenvalues, spectralEntropy, spectrumEntropy } from '../../src/advantage/spectral-entropy.js';
import { vlmPolicy, type VlmPolicy, type VlmPolicyOptions } from '../../src/policies/vlm.js';
import { close } from './fixtures.js';

const DEFAULTS = Value.Default(DurianOptions, {}) as DurianOptions;
const F6B = { ...DEFAULTS, reasoningBuckets: 2 };

// Fixture F6b (METHODS.md §2.6): B = 4 prompts, G = 4, b = 2, α = (0.1, 0.2, 0.7), ε = 1e-6.
const F6B_REWARDS = [1, 1, 1, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1];
const F6B_GROUPS = Int32Array.from([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
const F6B_H = [2, 3, 4, 5];
const F6B_L = [-10, -30, -20, -40];

test('schema defaults (METHODS.md DU-1, DU-2, DU-6)', () => {
  assert.deepEqual(DEFAULTS, {
    alphaOriginal: 0.1,
    alphaPerceptual: 0.2,
    alphaReasoning: 0.7,
    reasoningBuckets: 12,
    sequenceScore: 'sum',
    epsilon: 1e-6,
  });
  assert.deepEqual(durianAdvantage.requires, ['patchFeatures']);
});

test('F6a: spectral entropy of F = [[1,0],[0,1],[1,1]] is 0.562335 nats', () => {
  const f = [1, 0, 0, 1, 1, 1];
  close(patchCovarianceEigenvalues(f, 3, 2), [0.5, 1 / 6], 1e-6);
  close([spectralEntropy(f, 3, 2)], [0.562335]);
  // P > d and P < d give the same non-zero spectrum (the transposed layout: d = 3 "patches" of dimension 2 differs,
  // so check the smaller-Gram switch on a wider matrix instead).
  const wide = [1, 0, 2, 5, 0, 1, 1, -1, 1, 1, 0, 3]; // P = 3, d = 4 → 3×3 Gram
  const eig = patchCovarianceEigenvalues(wide, 3, 4);
  assert.equal(eig.length, 3);
  assert.ok(Math.abs(eig[2]!) < 1e-10, 'centring leaves rank ≤ P − 1');
});

test('Jacobi eigenvalues of a hand matrix', () => {
  // [[2,1,0],[1,2,1],[0,1,2]]: 2 − √2, 2, 2 + √2
  close(jacobiEigenvalues([2, 1, 0, 1, 2, 1, 0, 1, 2], 3), [2 + Math.SQRT2, 2, 2 - Math.SQRT2], 1e-10);
  // diagonal and 1×1 / 0×0 inputs
  close(jacobiEigenvalues([3, 0, 0, -1], 2), [3, -1], 1e-12);
  close(jacobiEigenvalues([7], 1), [7]);
  assert.equal(jacobiEigenvalues([], 0).length, 0);
  // a random symmetric 6×6: trace and Frobenius norm are preserved
  const n = 6;
  const a = new Float64Array(n * n);
  let seed = 3;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = rnd();
  const eig = jacobiEigenvalues(a, n);
  let trace = 0;
  let fro = 0;
  for (let i = 0; i < n; i++) trace += a[i * n + i]!;
  for (const v of a) fro += v * v;
  assert.ok(Math.abs(eig.reduce((s, v) => s + v, 0) - trace) < 1e-10);
  assert.ok(Math.abs(eig.reduce((s, v) => s + v * v, 0) - fro) < 1e-10);
  assert.throws(() => jacobiEigenvalues([1, 2, 3, 4], 2), /not symmetric/);
  assert.throws(() => jacobiEigenvalues([1, 2, 3], 2), /expected 2²/);
});

test('spectrum entropy: uniform spectrum gives ln k, zero spectrum gives 0, negatives clamp', () => {
  close([spectrumEntropy([2, 2, 2, 2])], [Math.log(4)], 1e-12);
  assert.equal(spectrumEntropy([0, 0]), 0);
  close([spectrumEntropy([3, 1, -1e-9])], [spectrumEntropy([3, 1])], 1e-15);
  assert.equal(spectralEntropy([1, 2, 1, 2, 1, 2], 3, 2), 0, 'identical patches: covariance 0 → H = 0');
});

test('F6b: buckets, bucket stds and every advantage row (b = 2)', () => {
  const r = durianSequenceAdvantages(F6B_REWARDS, F6B_GROUPS, F6B_H, F6B_L, F6B);
  close(r.entropyQuantiles, [2.75, 4.25]);
  close([r.logprobQuantiles[1]!], [-25]);
  assert.deepEqual([...r.perceptualBucket], [0, 1, 1, 2]);
  assert.deepEqual([...r.reasoningBucket], [1, 0, 1, 0]);
  close(r.perceptualStd, [0.5, 0.517549, 0.57735]);
  close(r.reasoningStd, [0.517549, 0.517549]);
  const rows = (a: Float64Array) => [0, 1, 2, 3].map((s) => [...a.slice(4 * s, 4 * s + 4)]);
  const grpo = rows(r.grpo);
  const perc = rows(r.perceptual);
  const reason = rows(r.reasoning);
  const comb = rows(r.combined);
  close(grpo[0]!, [0.499999, 0.499999, 0.499999, -1.499997]);
  close(grpo[1]!, [1.499997, -0.499999, -0.499999, -0.499999]);
  close(grpo[2]!, [0.866024, 0.866024, -0.866024, -0.866024]);
  close(grpo[3]!, [-0.866024, 0.866024, -0.866024, 0.866024]);
  close(perc[0]!, [0.499999, 0.499999, 0.499999, -1.499997]);
  close(perc[1]!, [1.449135, -0.483045, -0.483045, -0.483045]);
  close(perc[2]!, [0.96609, 0.96609, -0.96609, -0.96609]);
  close(perc[3]!, [-0.866024, 0.866024, -0.866024, 0.866024]);
  close(reason[0]!, [0.483045, 0.483045, 0.483045, -1.449135]);
  close(reason[1]!, [1.449135, -0.483045, -0.483045, -0.483045]);
  close(reason[2]!, [0.96609, 0.96609, -0.96609, -0.96609]);
  close(reason[3]!, [-0.96609, 0.96609, -0.96609, 0.96609]);
  close(comb[0]!, [0.488131, 0.488131, 0.488131, -1.464394]);
  close(comb[1]!, [1.454221, -0.48474, -0.48474, -0.48474]);
  close(comb[2]!, [0.956083, 0.956083, -0.956083, -0.956083]);
  close(comb[3]!, [-0.93607, 0.93607, -0.93607, 0.93607]);
});

test('F6b is independent of row order and of non-contiguous group ids', () => {
  const perm = [15, 3, 8, 0, 12, 4, 9, 1, 13, 5, 10, 2, 14, 6, 11, 7];
  const ids = [7, 2, 5, 0]; // group s → id
  const h: number[] = [];
  const l: number[] = [];
  ids.forEach((id, s) => ((h[id] = F6B_H[s]!), (l[id] = F6B_L[s]!)));
  const rewards = perm.map((row) => F6B_REWARDS[row]!);
  const groups = Int32Array.from(perm.map((row) => ids[F6B_GROUPS[row]!]!));
  const r = durianSequenceAdvantages(rewards, groups, h, l, F6B);
  const ref = durianSequenceAdvantages(F6B_REWARDS, F6B_GROUPS, F6B_H, F6B_L, F6B);
  close(r.combined, perm.map((row) => ref.combined[row]!), 1e-12);
});

test('a bucket holding one prompt reproduces plain GRPO; all-one-bucket α = (1,0,0) equals GRPO', () => {
  const grpo = new GrpoAdvantageEstimator({ epsilon: 1e-6, std: 'unbiased' });
  const r = durianSequenceAdvantages(F6B_REWARDS, F6B_GROUPS, F6B_H, F6B_L, F6B);
  // s1 alone in S1, s4 alone in S3 → A^Perc = A^GRPO for them
  close(r.perceptual.slice(0, 4), [...r.grpo.slice(0, 4)], 1e-12);
  close(r.perceptual.slice(12, 16), [...r.grpo.slice(12, 16)], 1e-12);
  close(r.grpo, [...grpo.compute({ rewards: Float64Array.from(F6B_REWARDS), groupIndex: F6B_GROUPS, mask: new Float32Array(16).fill(1), tokens: 1 })]);
  // b = 4 with 4 prompts: every reasoning bucket holds one prompt → A^Reason = A^GRPO
  const single = durianSequenceAdvantages(F6B_REWARDS, F6B_GROUPS, F6B_H, F6B_L, { ...F6B, reasoningBuckets: 4 });
  assert.deepEqual([...single.reasoningBucket], [3, 1, 2, 0]);
  close(single.reasoning, [...single.grpo], 1e-12);
});

test('zero-variance bucket gives 0 and no NaN', () => {
  // Two prompts with constant rewards share the lowest-entropy bucket and the lowest-L bucket.
  const rewards = [1, 1, 0, 0, 1, 0, 0, 1, 1, 0];
  const groups = Int32Array.from([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
  const r = durianSequenceAdvantages(rewards, groups, [1, 1, 5, 6, 7], [-9, -9, -1, -2, -3], { ...F6B, reasoningBuckets: 2 });
  assert.equal(r.perceptualBucket[0], 0);
  assert.equal(r.perceptualBucket[1], 0);
  close([r.perceptualStd[0]!], [0.57735]); // pooled [1, 1, 0, 0]: non-zero std, but each group's numerator is 0
  // constant-reward groups: every advantage 0
  for (const a of [r.grpo, r.perceptual, r.reasoning, r.combined]) {
    close(a.slice(0, 4), [0, 0, 0, 0]);
    assert.ok([...a].every(Number.isFinite));
  }
  // a bucket whose pooled rewards are all equal has std 0
  const flat = durianSequenceAdvantages([1, 1, 1, 1, 0, 1], Int32Array.from([0, 0, 1, 1, 2, 2]), [1, 1, 9], [-5, -5, -1], {
    ...F6B,
    reasoningBuckets: 2,
  });
  assert.equal(flat.perceptualStd[0], 0);
  close(flat.perceptual.slice(0, 4), [0, 0, 0, 0]);
  close(flat.combined.slice(0, 4), [0, 0, 0, 0]);
});

test('step metrics of F6b, computed by hand', () => {
  const r = durianSequenceAdvantages(F6B_REWARDS, F6B_GROUPS, F6B_H, F6B_L, F6B);
  const m = durianStepMetrics(r, F6B_REWARDS, F6B_GROUPS);
  // H quantiles 2.75 / 4.25; L from −40 to −10.
  close([m['durian_entropy_iqr']!, m['durian_logprob_range']!], [1.5, 30]);
  close([m['durian_perc_std_s1']!, m['durian_perc_std_s2']!, m['durian_perc_std_s3']!], [0.5, 0.517549, 0.57735]);
  close([m['durian_reason_std_min']!, m['durian_reason_std_max']!], [0.517549, 0.517549]);
  // Group stds (unbiased): [1,1,1,0] 0.5, [1,0,0,0] 0.5, [1,1,0,0] 0.57735, [0,1,0,1] 0.57735.
  close([m['durian_group_std_mean']!], [0.538675]);
  // ‖A^Comb − A^GRPO‖² from the F6b rows: 3·0.011868² + 0.035603² + 0.045776² + 3·0.015259² + 4·0.090059²
  // + 4·0.070046² = 0.056552, over ‖A^GRPO‖² = 12 (every group contributes 3): √(0.056552 / 12) = 0.068649.
  close([m['durian_change']!], [0.068649]);
  // Constant rewards: every advantage is 0, and so is the change (no division by zero).
  const flat = durianSequenceAdvantages([1, 1, 0, 0], Int32Array.from([0, 0, 1, 1]), [1, 2], [-1, -2], F6B);
  const f = durianStepMetrics(flat, [1, 1, 0, 0], Int32Array.from([0, 0, 1, 1]));
  assert.equal(f['durian_change'], 0);
  assert.equal(f['durian_group_std_mean'], 0);
});

test('quantiles: linear interpolation and the tie rules', () => {
  close([linearQuantile([2, 3, 4, 5], 0.25), linearQuantile([2, 3, 4, 5], 0.75), linearQuantile([7], 0.5)], [2.75, 4.25, 7]);
  // perceptual: ≤ τ0.25 → S1, ≥ τ0.75 → S3; when τ0.25 = τ0.75 the shared value goes to S1
  assert.equal(perceptualBucketOf(2.75, 2.75, 4.25), 0);
  assert.equal(perceptualBucketOf(4.25, 2.75, 4.25), 2);
  assert.equal(perceptualBucketOf(3, 2.75, 4.25), 1);
  assert.equal(perceptualBucketOf(3, 3, 3), 0);
  assert.equal(perceptualBucketOf(4, 3, 3), 2);
  // all H equal: τ0.25 = τ0.75 → everything in S1 (pooled std over the whole batch)
  const r = durianSequenceAdvantages(F6B_REWARDS, F6B_GROUPS, [1, 1, 1, 1], F6B_L, F6B);
  assert.deepEqual([...r.perceptualBucket], [0, 0, 0, 0]);
  // H = [1, 2, 2, 2, 2, 3]: τ0.25 = τ0.75 = 2 → the value 2 goes to S1, 3 to S3, S2 is empty
  const six = Int32Array.from([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
  const t = durianSequenceAdvantages([1, 0, 1, 1, 0, 1, 1, 0, 0, 0, 1, 0], six, [1, 2, 2, 2, 2, 3], [-1, -2, -3, -4, -5, -6], F6B);
  close(t.entropyQuantiles, [2, 2], 1e-12);
  assert.deepEqual([...t.perceptualBucket], [0, 0, 0, 0, 0, 2]);
  // reasoning: q_{u/b} ≤ L < q_{(u+1)/b}; the last bucket is closed at the max; a value on an edge goes up
  assert.equal(reasoningBucketOf(-25, [-40, -25, -10]), 1);
  assert.equal(reasoningBucketOf(-10, [-40, -25, -10]), 1);
  assert.equal(reasoningBucketOf(-40, [-40, -25, -10]), 0);
  // repeated quantiles: empty buckets in between, value goes to the highest bucket it reaches
  assert.equal(reasoningBucketOf(-5, [-9, -5, -5, -5, 0]), 3);
  // all L equal: everything in the last bucket
  const same = durianSequenceAdvantages(F6B_REWARDS, F6B_GROUPS, F6B_H, [-3, -3, -3, -3], { ...F6B, reasoningBuckets: 3 });
  assert.deepEqual([...same.reasoningBucket], [2, 2, 2, 2]);
});

test('quantile positions in integers: h = (n − 1)·u, j = ⌊h/b⌋, remainder h mod b (Eq. 16)', () => {
  // n = 109, b = 12, u = 7: h = 108·7 = 756, j = 63, r = 0 → position exactly 63, although (7/12)·108 = 63.00000000000001.
  assert.deepEqual(quantilePosition(109, 7, 12), { index: 63, remainder: 0 });
  assert.ok((7 / 12) * 108 > 63, 'the float product this replaces lands above 63');
  // n = 4, b = 2, u = 1 (F6b median): h = 3, j = 1, r = 1 → position 1.5.
  assert.deepEqual(quantilePosition(4, 1, 2), { index: 1, remainder: 1 });
  // levels 0 and 1 are the min and the max; n = 1 gives position 0 at every level.
  assert.deepEqual(quantilePosition(10, 0, 12), { index: 0, remainder: 0 });
  assert.deepEqual(quantilePosition(10, 12, 12), { index: 9, remainder: 0 });
  assert.deepEqual(quantilePosition(1, 5, 12), { index: 0, remainder: 0 });
  // values: [−40, −30, −20, −10] at u/b = 1/2 → −30 + (1/2)·10 = −25; u/b = 1/4 → −40 + (3/4)·10 = −32.5.
  close([rationalQuantile([-40, -30, -20, -10], 1, 2), rationalQuantile([-40, -30, -20, -10], 1, 4)], [-25, -32.5], 0);
  assert.equal(rationalQuantile([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 7, 12), 7);
  // Edges: the batch value that decides x ≤ q and x ≥ q (q strictly between −30 and −20 → atLeast −20; q on a value
  // → both that value; equal neighbours → q equals them).
  assert.deepEqual(quantileEdges([-40, -30, -20, -10], 1, 2), { atMost: -30, atLeast: -20 });
  assert.deepEqual(quantileEdges([0, 1, 2, 3, 4], 1, 2), { atMost: 2, atLeast: 2 });
  assert.deepEqual(quantileEdges([0, 3, 3, 9], 1, 2), { atMost: 3, atLeast: 3 });
  assert.throws(() => quantilePosition(0, 1, 2), /n = 0 is not a positive integer/);
  assert.throws(() => quantilePosition(4, 3, 2), /u = 3 is not an integer in \[0, 2\]/);
  assert.throws(() => quantilePosition(4, 1, 0), /b = 0 is not a positive integer/);
  assert.throws(() => rationalQuantile([], 1, 2), /no values/);
});

test('boundary prompts at b = 12 with 109, 205 and 217 prompts land in the upper bucket (Eq. 16)', () => {
  // L(Q_s) = s for s = 0..n−1 (one prompt per value, rewards [1, 0]). With k = (n − 1)/12 (9, 17, 18) every level
  // u/12 sits exactly on the value u·k, so by q_{u/b} ≤ L < q_{(u+1)/b} the prompt with L = u·k opens bucket u
  // (0-based): bucket(L) = min(⌊L/k⌋, 11). The float position (7/12)·(n − 1) is a hair above 7k for these n, which
  // made q_{7/12} slightly larger than 7k and sent the prompt at 7k to bucket 6.
  for (const n of [109, 205, 217]) {
    const k = (n - 1) / 12;
    const rewards = Array.from({ length: 2 * n }, (_, r) => (r % 2 === 0 ? 1 : 0));
    const groups = Int32Array.from({ length: 2 * n }, (_, r) => Math.floor(r / 2));
    const l = Array.from({ length: n }, (_, s) => s);
    const h = Array.from({ length: n }, (_, s) => s);
    const r = durianSequenceAdvantages(rewards, groups, h, l, { ...DEFAULTS, reasoningBuckets: 12 });
    for (let u = 0; u <= 12; u++) assert.equal(r.logprobQuantiles[u], u * k, `n = ${n}: q_{${u}/12} = ${u * k}`);
    assert.equal(r.reasoningBucket[7 * k], 7, `n = ${n}: L = 7k = ${7 * k} opens bucket 7`);
    assert.equal(r.reasoningBucket[7 * k - 1], 6, `n = ${n}: L = 7k − 1 stays in bucket 6`);
    assert.deepEqual([...r.reasoningBucket], l.map((v) => Math.min(Math.floor(v / k), 11)), `n = ${n}: every bucket`);
    // Bucket sizes: k prompts each, the last one closed at the max (k + 1).
    const sizes = new Array(12).fill(0);
    for (const u of r.reasoningBucket) sizes[u]++;
    assert.deepEqual(sizes, [...new Array(11).fill(k), k + 1]);
    // Perceptual quantiles of H = 0..n−1: τ0.25 = (n − 1)/4 and τ0.75 = 3(n − 1)/4, both batch values.
    close(r.entropyQuantiles, [(n - 1) / 4, (3 * (n - 1)) / 4], 0);
    assert.equal(r.perceptualBucket[(n - 1) / 4], 0, 'H = τ0.25 → S1');
    assert.equal(r.perceptualBucket[(n - 1) / 4 + 1], 1);
    assert.equal(r.perceptualBucket[(3 * (n - 1)) / 4], 2, 'H = τ0.75 → S3');
    assert.equal(r.perceptualBucket[(3 * (n - 1)) / 4 - 1], 1);
  }
});

test('boundaries between neighbouring floats: comparisons use batch values, not the rounded interpolation', () => {
  // L sorted = [1, 1 + ε, 5] (ε = 2^−52), b = 12: position of level u/12 is h/12 with h = 2u.
  //   u = 1..5: j = 0, r = 2u → q strictly between 1 and 1 + ε (q_{1/12} = 1 + ε/6 rounds to 1 in float, and so do
  //     u = 2, 3) → the prompt at 1 is below every q_{u/12}, u ≥ 1: bucket 0 (the float quantiles put it in bucket 3);
  //   u = 6: h = 12, j = 1, r = 0 → q = 1 + ε exactly; u = 7: j = 1, r = 2 → q strictly between 1 + ε and 5
  //     → the prompt at 1 + ε is in bucket 6;  5 is the max → bucket 11 (closed at the max).
  const eps = Number.EPSILON;
  const groups = Int32Array.from([0, 0, 1, 1, 2, 2]);
  const rewards = [1, 0, 0, 1, 1, 1];
  const r = durianSequenceAdvantages(rewards, groups, [0, 1, 2], [1, 1 + eps, 5], { ...DEFAULTS, reasoningBuckets: 12 });
  assert.equal(r.logprobQuantiles[1], 1, 'q_{1/12} = 1 + ε/6 rounds to 1');
  assert.deepEqual([...r.reasoningBucket], [0, 6, 11]);
  // Perceptual: H = [1, 1 + ε, 5, 6]: τ0.25 at position 3/4 → 1 + (3/4)·ε, which rounds to 1 + ε; exactly, 1 + ε > τ0.25,
  // so only H = 1 is in S1. τ0.75 at position 2 + 1/4 → 5.25: H = 6 in S3.
  const p = durianSequenceAdvantages([1, 0, 1, 0, 1, 0, 1, 0], Int32Array.from([0, 0, 1, 1, 2, 2, 3, 3]), [1, 1 + eps, 5, 6], [0, 1, 2, 3], F6B);
  assert.equal(p.entropyQuantiles[0], 1 + eps, 'τ0.25 rounds to 1 + ε');
  assert.deepEqual([...p.perceptualBucket], [0, 1, 1, 2]);
});

test('group of size 1 and missing difficulty values are errors', () => {
  assert.throws(
    () => durianSequenceAdvantages([1, 0, 1], Int32Array.from([0, 0, 1]), [1, 2], [-1, -2], F6B),
    /at least 2 trajectories per group; group of row 2 has 1/,
  );
  assert.throws(() => durianSequenceAdvantages([1, 0], Int32Array.from([0, 0]), [], [-1], F6B), /H\(I_s\) of group 0/);
  assert.throws(() => durianSequenceAdvantages([1, 0], Int32Array.from([0, 0]), [1], [Number.NaN], F6B), /L\(Q_s\) of group 0/);
});

test('sequence log-prob score: sum (Eq. 14) and mean over valid tokens (DU-2)', () => {
  const lp = Float32Array.from([-1, -2, -9, -3, -9, -9, -4, -4, -4, 0, 0, 0]);
  const mask = Float32Array.from([1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0]);
  const g = Int32Array.from([0, 0, 1, 1]);
  close(groupSequenceLogprobs(lp, mask, 3, g, 'sum'), [(-3 + -3) / 2, (-12 + 0) / 2]);
  close(groupSequenceLogprobs(lp, mask, 3, g, 'mean'), [(-1.5 + -3) / 2, (-4 + 0) / 2]);
});

// ---- tensor path -------------------------------------------------------------------------------------------------

const IMAGE: [number, number] = [4, 6];

/** A policy-free fake: patch features are the 2×2 pixel blocks of the image flattened (P = 6, d = 4). */
class FakePolicy {
  readonly tokenizer = new Tokenizer(['a', 'b']);
  readonly trainableVariables: tf.Variable[] = [];
  forwards = 0;
  clones = 0;
  disposed = false;
  parameterCount(): number {
    return 0;
  }
  forward(batch: SequenceBatch, options?: ForwardOptions): ForwardOutputs {
    this.forwards++;
    const [n, t] = batch.responseTokens.shape;
    const out: ForwardOutputs = { logprobs: tf.zeros([n, t]) as tf.Tensor2D };
    if (options?.outputs?.patchFeatures) {
      const [h, w] = [IMAGE[0], IMAGE[1]];
      out.patchFeatures = batch.images
        .reshape([n, h / 2, 2, w / 2, 2])
        .transpose([0, 1, 3, 2, 4])
        .reshape([n, (h / 2) * (w / 2), 4]) as tf.Tensor3D;
    }
    return out;
  }
  async generate(): Promise<never> {
    throw new Error('not used');
  }
  async save(): Promise<void> {}
  async load(): Promise<void> {}
  clone(): FakePolicy {
    this.clones++;
    return new FakePolicy();
  }
  dispose(): void {
    this.disposed = true;
  }
}

/** Patch features of an image as the fake computes them, in plain JS. */
function fakeFeatures(image: Float32Array): number[] {
  const out: number[] = [];
  for (let pr = 0; pr < IMAGE[0] / 2; pr++) {
    for (let pc = 0; pc < IMAGE[1] / 2; pc++) {
      for (let dr = 0; dr < 2; dr++) for (let dc = 0; dc < 2; dc++) out.push(image[(2 * pr + dr) * IMAGE[1] + 2 * pc + dc]!);
    }
  }
  return out;
}

function prompt(id: string, seed: number, shape: [number, number] = IMAGE): Prompt {
  let s = seed;
  const image = Float32Array.from({ length: shape[0] * shape[1] }, () => ((s = (s * 16807) % 2147483647) / 2147483647) ** (seed % 3 + 1));
  return { id, split: 'train', image, imageShape: shape, question: 'q', answer: 'a', meta: {} };
}

function contextWith(policy: unknown, task?: Task): StrategyContext {
  const container = {
    resolve: (token: unknown) => {
      if (token === POLICY) return policy;
      if (token === TASK && task) return task;
      throw new Error(`unexpected token ${String(token)}`);
    },
  } as unknown as DependencyContainer;
  return { container, seed: 1, baseDir: process.cwd() };
}

test('tensor path: fake policy, entropy cached per prompt id, matches the pure function, broadcast over the mask', async () => {
  const live = new FakePolicy();
  const est = (await durianAdvantage.create(F6B, contextWith(live))) as DurianAdvantageEstimator;
  assert.equal(live.clones, 1, 'the base model is a clone taken at creation');
  assert.equal(live.forwards, 0);
  const prompts = [prompt('p0', 11), prompt('p1', 23), prompt('p2', 37), prompt('p3', 41)];
  const tokens = 3;
  const rewards = Float64Array.from(F6B_REWARDS);
  const mask = new Float32Array(16 * tokens);
  const oldLogprobs = new Float32Array(16 * tokens);
  for (let i = 0; i < 16; i++) {
    const len = 1 + (i % tokens);
    for (let t = 0; t < len; t++) {
      mask[i * tokens + t] = 1;
      oldLogprobs[i * tokens + t] = -0.1 * (1 + ((i * 7 + t * 3) % 5));
    }
    if (len < tokens) oldLogprobs[i * tokens + tokens - 1] = -50; // padding is ignored
  }
  const input = { rewards, groupIndex: F6B_GROUPS, mask, tokens, oldLogprobs, groupPrompts: prompts };
  const before = tf.memory().numTensors;
  const adv = await est.compute(input);
  assert.equal(tf.memory().numTensors, before, 'no tensor leak');
  const h = prompts.map((p) => spectralEntropy(fakeFeatures(p.image), 6, 4));
  prompts.forEach((p, k) => close([est.cachedEntropy(p.id)!], [h[k]!], 1e-5));
  assert.ok(new Set(h.map((v) => v.toFixed(6))).size === 4, 'distinct entropies');
  const l = groupSequenceLogprobs(oldLogprobs, mask, tokens, F6B_GROUPS, 'sum');
  const ref = durianSequenceAdvantages(rewards, F6B_GROUPS, h, l, F6B);
  const expected: number[] = [];
  for (let i = 0; i < 16; i++) for (let t = 0; t < tokens; t++) expected.push(ref.combined[i]! * mask[i * tokens + t]!);
  close(adv, expected, 1e-5);
  // second call: cached, no new forward; a new prompt only triggers one more forward
  const calls = (est as unknown as { base: FakePolicy }).base.forwards;
  assert.equal(calls, 1);
  await est.compute(input);
  assert.equal((est as unknown as { base: FakePolicy }).base.forwards, 1);
  await est.compute({ ...input, groupPrompts: [prompts[0]!, prompts[1]!, prompts[2]!, prompt('p4', 53)] });
  assert.equal((est as unknown as { base: FakePolicy }).base.forwards, 2);
  est.dispose();
  assert.equal((est as unknown as { base: FakePolicy }).base.disposed, true);
  assert.equal(live.disposed, false, 'the live policy is untouched');
});

test('tensor path: missing inputs and group of size 1 are errors before the model runs', async () => {
  const est = new DurianAdvantageEstimator(F6B, new FakePolicy() as unknown as Policy);
  const base = { rewards: Float64Array.from([1, 0, 1]), groupIndex: Int32Array.from([0, 0, 1]), mask: new Float32Array(3).fill(1), tokens: 1 };
  await assert.rejects(est.compute({ ...base, groupPrompts: [prompt('a', 3), prompt('b', 5)] }), /needs oldLogprobs/);
  await assert.rejects(est.compute({ ...base, oldLogprobs: new Float32Array(3) }), /needs groupPrompts/);
  await assert.rejects(
    est.compute({ ...base, oldLogprobs: new Float32Array(3), groupPrompts: [prompt('a', 3), prompt('b', 5)] }),
    /at least 2 trajectories per group; group of row 2 has 1/,
  );
  assert.equal((est as unknown as { base: FakePolicy }).base.forwards, 0);
});

test('tensor path: the real VlmPolicy (tiny architecture) through the vlm strategy', async () => {
  const words = ['a', 'b', 'c'];
  const task = { vocabulary: () => words, imageShape: [8, 12] } as unknown as Task;
  const options = { preset: 'small', dModel: 8, layers: 1, heads: 2, ffnDim: 8, patchSize: 4, maxPositions: 8 } as VlmPolicyOptions;
  const live = (await vlmPolicy.create(options, contextWith(undefined, task))) as VlmPolicy;
  try {
    const est = (await durianAdvantage.create(DEFAULTS, contextWith(live))) as DurianAdvantageEstimator;
    const prompts = [prompt('v0', 5, [8, 12]), prompt('v1', 9, [8, 12])];
    const rewards = Float64Array.from([1, 0, 1, 0, 0, 0]);
    const groupIndex = Int32Array.from([0, 0, 0, 1, 1, 1]);
    const before = tf.memory().numTensors;
    const adv = await est.compute({
      rewards,
      groupIndex,
      mask: new Float32Array(6).fill(1),
      tokens: 1,
      oldLogprobs: Float32Array.from([-1, -2, -3, -1, -1, -1]),
      groupPrompts: prompts,
    });
    assert.equal(tf.memory().numTensors, before, 'no tensor leak');
    // Expected H from the base model's patch features directly (P = 6 patches, d = 8 → 6×6 Gram).
    for (const p of prompts) {
      const f = tf.tidy(() => live.model.patchFeatures(tf.tensor3d(p.image, [1, 8, 12])));
      const h = spectralEntropy(f.dataSync(), f.shape[1], f.shape[2]);
      f.dispose();
      close([est.cachedEntropy(p.id)!], [h], 1e-5);
      assert.ok(h > 0 && h <= Math.log(6) + 1e-9);
    }
    assert.ok([...adv].every(Number.isFinite));
    // group 1 is zero-variance → 0
    close(adv.slice(3), [0, 0, 0]);
    est.dispose();
  } finally {
    live.dispose();
  }
});
