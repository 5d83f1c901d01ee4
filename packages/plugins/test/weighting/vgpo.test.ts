import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@mmrl/core';
import {
  VgpoTokenWeighter,
  vgpoFromCosines,
  vgpoStepMetrics,
  vgpoWeighter,
  type VgpoBreakdown,
  type VgpoOptions,
} from '../../src/weighting/vgpo.js';

before(async () => {
  await initBackend('wasm');
});

const PAPER: VgpoOptions = { mode: 'paper', beta: 0.3, tailRatio: 0.5, topFraction: 0.2, epsilon: 1e-8, intra: true, inter: true };
const OFFICIAL: VgpoOptions = { ...PAPER, mode: 'official' };

const close = (a: ArrayLike<number>, b: number[], tol = 1e-5, what = '') => {
  assert.equal(a.length, b.length, `${what}: length`);
  b.forEach((v, i) => assert.ok(Math.abs(a[i]! - v) <= tol, `${what} ${i}: ${a[i]} vs ${v}`));
};
const row = (a: Float32Array, i: number, T: number, Ti: number) => Array.from(a.subarray(i * T, i * T + Ti));

// F8 / F8b: one group of two trajectories (T = 8 and T = 6), the second padded to L = 8.
const S1 = [0.1, 0.3, -0.2, 0.0, 0.4, 0.25, -0.1, 0.35];
const S2 = [0.2, 0.05, 0.15, 0.3, -0.05, 0.1];
const L = 8;
const S = Float32Array.from([...S1, ...S2, 0, 0]);
const MASK = Float32Array.from([...Array(8).fill(1), ...Array(6).fill(1), 0, 0]);
const GROUP = Int32Array.from([0, 0]);
const A = [1, -1];

test('F8: Eq. 2–4 check (prototype, cosine, ρ) through the tensor path', async () => {
  const hidden = tf.tensor3d([[[1, 1, 0]]]);
  const image = tf.tensor3d([[[1, 0, 1], [0, 1, 1]]]);
  const { S: cos, prototypeNorm } = VgpoTokenWeighter.cosines(hidden, image, 1e-8);
  const s = (await cos.data())[0]!;
  assert.ok(Math.abs(s - 0.57735) < 1e-5, `S = ${s}`);
  assert.ok(Math.abs((s + 1) / 2 - 0.788675) < 1e-5);
  assert.ok(Math.abs((await prototypeNorm.data())[0]! - Math.hypot(0.5, 0.5, 1)) < 1e-6); // μ_v = [0.5, 0.5, 1]
  tf.dispose([hidden, image, cos, prototypeNorm]);
});

test('F8 (paper mode): every row of the fixture', () => {
  const r = vgpoFromCosines(S, MASK, GROUP, 2, L, PAPER);
  close(row(r.score, 0, L, 8), [0.55, 0.65, 0.4, 0.5, 0.7, 0.625, 0.45, 0.675], 1e-6, 'ρ1');
  close(row(r.score, 1, L, 6), [0.6, 0.525, 0.575, 0.65, 0.475, 0.55], 1e-6, 'ρ2');
  close(row(r.gate, 0, L, 8), [0, 0, 0, 0, 1, 0, 0, 0], 0, 'gate1'); // tail t ∈ {5..8}, k = 1
  close(row(r.gate, 1, L, 6), [0, 0, 0, 1, 0, 0], 0, 'gate2'); // tail t ∈ {4..6}, k = 1
  close(row(r.w, 0, L, 8), [0.55, 0.65, 0.4, 0.5, 0.83125, 0.625, 0.45, 0.675], 1e-6, 'w1');
  close(row(r.w, 1, L, 6), [0.6, 0.525, 0.575, 0.78, 0.475, 0.55], 1e-6, 'w2');
  close(row(r.wHat, 0, L, 8), [0.347826, 0.57971, 0, 0.231884, 1, 0.521739, 0.115942, 0.637681], 1e-5, 'ŵ1');
  close(row(r.wHat, 1, L, 6), [0.409836, 0.163934, 0.327869, 1, 0, 0.245902], 1e-5, 'ŵ2');
  const psi1 = [-0.081522, 0.150362, -0.429348, -0.197464, 0.570652, 0.092391, -0.313406, 0.208333];
  const psi2 = [0.051913, -0.193989, -0.030055, 0.642076, -0.357923, -0.112022];
  close(row(r.intra, 0, L, 8), psi1.map((p) => 1 + p), 1e-5, '1+ψ1');
  close(row(r.intra, 1, L, 6), psi2.map((p) => 1 + p), 1e-5, '1+ψ2');
  close(r.s, [4.68125, 3.505], 1e-5, 's');
  close(r.sHat, [1, 0], 1e-6, 'ŝ');
  close(r.inter, [1.5, 0.5], 1e-6, '1+φ');
  const adv1 = row(r.multipliers, 0, L, 8).map((m) => A[0]! * m);
  const adv2 = row(r.multipliers, 1, L, 6).map((m) => A[1]! * m);
  close(adv1, [1.377717, 1.725543, 0.855978, 1.203804, 2.355978, 1.638587, 1.029891, 1.8125], 1e-5, 'Â1');
  close(adv2, [-0.525956, -0.403005, -0.484973, -0.821038, -0.321038, -0.443989], 1e-5, 'Â2');
  close(row(r.multipliers, 1, L, 8).slice(6), [0, 0], 0, 'padding');
});

test('F8b (official mode): every row of the fixture', () => {
  const r = vgpoFromCosines(S, MASK, GROUP, 2, L, OFFICIAL);
  close(row(r.score, 0, L, 8), [0.5, 0.833333, 0, 0.333333, 1, 0.75, 0.166667, 0.916667], 1e-5, 'v1');
  close(row(r.score, 1, L, 6), [0.666667, 0.416667, 0.583333, 0.833333, 0.25, 0.5], 1e-5, 'v2');
  close(row(r.gate, 0, L, 8), [0, 0, 0, 0, 1, 0, 0, 0], 0, 'gate1'); // t0 = 4
  close(row(r.gate, 1, L, 6), [0, 0, 0, 1, 0, 0], 0, 'gate2'); // t0 = 3
  close(row(r.w, 0, L, 8), [0.5, 0.833333, 0, 0.333333, 1.171429, 0.75, 0.166667, 0.916667], 1e-5, 'w1');
  close(row(r.w, 1, L, 6), [0.666667, 0.416667, 0.583333, 0.983333, 0.25, 0.5], 1e-5, 'w2');
  close(row(r.wHat, 0, L, 8), [0.426829, 0.711382, 0, 0.284553, 1, 0.640244, 0.142276, 0.78252], 1e-5, 'ŵ1');
  close(row(r.wHat, 1, L, 6), [0.568182, 0.227273, 0.454545, 1, 0, 0.340909], 1e-5, 'ŵ2');
  close(row(r.intra, 0, L, 8), [0.928354, 1.212907, 0.501524, 0.786077, 1.501524, 1.141768, 0.643801, 1.284045], 1e-5, 'ψ′1');
  close(row(r.intra, 1, L, 6), [1.136364, 0.795455, 1.022727, 1.568182, 0.568182, 0.909091], 1e-5, 'ψ′2');
  close(r.s, [3.987805, 2.590909], 1e-5, 's');
  close(r.sHat, [1, 0], 1e-6, 'ŝ');
  close(r.inter, [1.5, 0.9], 1e-6, 'φ′'); // lower clamp hit for traj 2
  const adv1 = row(r.multipliers, 0, L, 8).map((m) => A[0]! * m);
  const adv2 = row(r.multipliers, 1, L, 6).map((m) => A[1]! * m);
  close(adv1, [1.39253, 1.81936, 0.752287, 1.179116, 2.252287, 1.712652, 0.965701, 1.926067], 1e-5, 'A1');
  close(adv2, [-1.022727, -0.715909, -0.920455, -1.411364, -0.511364, -0.818182], 1e-5, 'A2');
  close(row(r.multipliers, 1, L, 8).slice(6), [0, 0], 0, 'padding');
});

test('official mode: padding cosines 0 enter the global min–max only when some row is padded (V-6)', () => {
  const pos = Float32Array.from([0.2, 0.4, 0.6, 0.8]);
  const full = vgpoFromCosines(pos, Float32Array.from([1, 1, 1, 1]), Int32Array.from([0, 1]), 2, 2, OFFICIAL);
  close(full.score, [0, 1 / 3, 2 / 3, 1], 1e-6, 'unpadded: m = min S');
  const padded = vgpoFromCosines(pos, Float32Array.from([1, 1, 1, 0]), Int32Array.from([0, 1]), 2, 2, OFFICIAL);
  close(padded.score, [1 / 3, 2 / 3, 1, 0], 1e-6, 'padded: m = 0, M = 0.6 (the 0.8 is padding)');
  // Paper mode has no global step.
  close(vgpoFromCosines(pos, Float32Array.from([1, 1, 1, 0]), Int32Array.from([0, 1]), 2, 2, PAPER).score, [0.6, 0.7, 0.8, 0], 1e-6);
});

test('groups by prompt id, not by adjacency (V-2)', () => {
  // Rows 0 and 2 are prompt 0, rows 1 and 3 prompt 1: each group normalises its own s_i.
  const cos = Float32Array.from([0.1, 0.5, 0.3, 0.3, 0.9, 0.9, -0.5, 0.4]);
  const r = vgpoFromCosines(cos, new Float32Array(8).fill(1), Int32Array.from([0, 1, 0, 1]), 4, 2, PAPER);
  const sHat01 = r.s[0]! > r.s[2]! ? [1, 0] : [0, 1];
  close([r.sHat[0]!, r.sHat[2]!], sHat01, 1e-6, 'group 0');
  close([r.sHat[1]!, r.sHat[3]!], r.s[1]! > r.s[3]! ? [1, 0] : [0, 1], 1e-6, 'group 1');
});

test('edge cases: T_i = 1, all s_i equal, γ = 0, a single-row group', () => {
  for (const opts of [PAPER, OFFICIAL]) {
    // T_i = 1 ⇒ ŵ = 0 ⇒ intra factor 1; group of one ⇒ ŝ = 0 ⇒ inter factor 1.
    const one = vgpoFromCosines(Float32Array.from([0.3, 0]), Float32Array.from([1, 0]), Int32Array.from([0]), 1, 2, opts);
    close(one.multipliers, [1, 0], 1e-6, `${opts.mode} T=1`);
    // Two identical trajectories ⇒ all s_i equal ⇒ inter factor 1.
    const same = vgpoFromCosines(Float32Array.from([0.1, 0.4, 0.1, 0.4]), new Float32Array(4).fill(1), Int32Array.from([3, 3]), 2, 2, opts);
    close(same.inter, [1, 1], 1e-6, `${opts.mode} equal s`);
    close(same.sHat, [0, 0], 1e-6);
    // γ = 0 ⇒ empty tail ⇒ no gate.
    const noTail = vgpoFromCosines(S, MASK, GROUP, 2, L, { ...opts, tailRatio: 0 });
    assert.ok(noTail.gate.every((g) => g === 0));
    assert.ok(noTail.multipliers.every((m) => m >= 0));
  }
});

test('one precision throughout: a constant-w row (T_i = 1) has ŵ = 0 exactly, not rounding error / ε', () => {
  // Paper mode, one group: row 0 has T = 1 with S = −0.9 (float32 −0.8999999762), row 1 has T = 2 with S = [0.2, 0.6].
  // Row 0: ρ = (S + 1)/2 ≈ 0.05; tail = {t = 1}, k = 1 → gate 1; w = ρ·(1 + 0.3·1/1) ≈ 0.065;
  //   ŵ = (w − w)/(0 + 1e-8) = 0 exactly (float32-rounded w minus the float64 min gave −0.298 before);
  //   intra = 1 + 0 − 0 = 1; s = Σ w ≈ 0.065.
  // Row 1: ρ = [0.6, 0.8]; tail start ⌊0.5·2⌋ = 1 → tail {t = 2}, k = max(1, ⌊0.2·1⌋) = 1 → gate on t = 2;
  //   w = [0.6, 0.8·(1 + 0.3·2/2)] = [0.6, 1.04]; ŵ = [0, 0.44/(0.44 + 1e-8)] ≈ [0, 1]; mean ŵ ≈ 0.5;
  //   intra = [0.5, 1.5]; s = 1.64.
  // Group: ŝ = [0, (1.64 − 0.065)/(1.575 + 1e-8)] ≈ [0, 1]; inter = 1 + ŝ − 0.5 = [0.5, 1.5].
  // Multipliers: row 0: 1·0.5 = 0.5; row 1: [0.5·1.5, 1.5·1.5] = [0.75, 2.25].
  const cos = Float32Array.from([-0.9, 0, 0.2, 0.6]);
  const r = vgpoFromCosines(cos, Float32Array.from([1, 0, 1, 1]), Int32Array.from([0, 0]), 2, 2, PAPER);
  assert.equal(r.wHat[0], 0, 'ŵ of the T = 1 row');
  assert.equal(r.intra[0], 1);
  close(r.w, [0.065, 0, 0.6, 1.04], 1e-6, 'w');
  close(r.wHat, [0, 0, 0, 1], 1e-6, 'ŵ');
  close(r.intra, [1, 0, 0.5, 1.5], 1e-6, 'intra');
  close(r.s, [0.065, 1.64], 1e-6, 's');
  close(r.sHat, [0, 1], 1e-6, 'ŝ');
  close(r.inter, [0.5, 1.5], 1e-6, 'inter');
  close(r.multipliers, [0.5, 0, 0.75, 2.25], 1e-6, 'multipliers');
  // Cosines −0.95, −0.90, …, 0.95 on a T = 1 row: ŵ is exactly 0 in both modes (in paper mode the float32-rounded w
  // used to differ from its float64 min by up to half a float32 ulp, which divided by ε = 1e-8 gave |ŵ| up to 0.6).
  for (const opts of [PAPER, OFFICIAL]) {
    for (let c = -0.95; c < 1; c += 0.05) {
      const one = vgpoFromCosines(Float32Array.from([c]), Float32Array.from([1]), Int32Array.from([0]), 1, 1, opts);
      assert.equal(one.wHat[0], 0, `${opts.mode} S = ${c.toFixed(2)}`);
      assert.equal(one.multipliers[0], 1);
    }
  }
  // Two trajectories with equal s_i (identical rows, one T = 1 each): ŝ = 0 exactly, inter factor 1.
  const twin = vgpoFromCosines(Float32Array.from([-0.9, -0.9]), Float32Array.from([1, 1]), Int32Array.from([4, 4]), 2, 1, PAPER);
  assert.deepEqual([...twin.sHat], [0, 0]);
  assert.deepEqual([...twin.inter], [1, 1]);
});

test('ties in the tail are all gated; the count is max(1, floor(κ·|tail|)) (V-4)', () => {
  // T = 10: tail = last 5 tokens, count = max(1, floor(0.2·5)) = 1; two tokens tie at the top.
  const cos = Float32Array.from([0.9, 0.9, 0, 0, 0, 0.5, 0.1, 0.5, 0.2, 0.3]);
  const r = vgpoFromCosines(cos, new Float32Array(10).fill(1), Int32Array.from([0]), 1, 10, PAPER);
  close(r.gate, [0, 0, 0, 0, 0, 1, 0, 1, 0, 0], 0, 'gate');
  // κ = 0.6 ⇒ count 3; the 3rd largest is 0.3 ⇒ the two tied 0.5 tokens and the 0.3 token.
  const r2 = vgpoFromCosines(cos, new Float32Array(10).fill(1), Int32Array.from([0]), 1, 10, { ...PAPER, topFraction: 0.6 });
  close(r2.gate, [0, 0, 0, 0, 0, 1, 0, 1, 0, 1], 0, 'gate κ = 0.6 (count 3)');
});

const hiddenBatch = () => {
  // d = 2, image prototype along x; response tokens at angles giving cosines [1, 0, −1, 0.6] (row 0) and
  // [0.8, 0, pad, pad] (row 1). Hidden state magnitudes differ, which the cosine ignores.
  const hidden = tf.tensor3d([
    [[2, 0], [0, 3], [-1, 0], [0.6, 0.8]],
    [[4, 3], [0, -1], [0, 0], [0, 0]],
  ]);
  const image = tf.tensor3d([
    [[1, 1], [1, -1]], // mean [1, 0]
    [[3, 0], [1, 0]], // mean [2, 0]
  ]);
  const mask = tf.tensor2d([[1, 1, 1, 1], [1, 1, 0, 0]]);
  return {
    advantages: tf.tensor2d([[1, 1, 1, 1], [-1, -1, 0, 0]]),
    mask,
    oldLogprobs: tf.zeros([2, 4]) as tf.Tensor2D,
    groupIndex: Int32Array.from([0, 0]),
    forward: { logprobs: tf.zeros([2, 4]) as tf.Tensor2D, hiddenStates: hidden, imageHiddenStates: image },
  };
};

test('tensor path: hidden states → cosines → the same multipliers as the pure function; no leaks', async () => {
  const input = hiddenBatch();
  const cos = Float32Array.from([1, 0, -1, 0.6, 0.8, 0, 0, 0]);
  const maskArr = Float32Array.from([1, 1, 1, 1, 1, 1, 0, 0]);
  for (const opts of [OFFICIAL, PAPER]) {
    const weighter = new VgpoTokenWeighter(opts);
    assert.deepEqual(weighter.forwardRequest, { hiddenStates: true, imageHiddenStates: true });
    const before = tf.memory().numTensors;
    const w = await weighter.weights(input);
    assert.deepEqual(w.shape, [2, 4]);
    const got = await w.data();
    w.dispose();
    assert.equal(tf.memory().numTensors, before, `${opts.mode}: leaked tensors`);
    const expected = vgpoFromCosines(cos, maskArr, input.groupIndex, 2, 4, opts).multipliers;
    close(got, Array.from(expected), 1e-5, opts.mode);
    assert.equal(got[6], 0);
    assert.equal(got[7], 0);
    assert.ok(Array.from(got).some((m) => Math.abs(m - 1) > 1e-3), 'some re-weighting happens');
  }
  const cosT = VgpoTokenWeighter.cosines(input.forward.hiddenStates, input.forward.imageHiddenStates, 1e-8);
  close(await cosT.S.data(), [1, 0, -1, 0.6, 0.8, 0, 0, 0], 1e-6, 'cosines');
  tf.dispose([cosT.S, cosT.prototypeNorm]);
});

test('off-policy rows: an expert member of the group gets factors and changes the on-policy member\'s (paper mode)', async () => {
  // One prompt, T = 1: row 0 on-policy with cosine 0.2, row 1 expert with cosine 0.6 (prototype along x, unit hidden
  // states [0.2, 0.979796] and [0.6, 0.8]). T = 1 ⇒ ŵ = 0 ⇒ intra 1. Paper mode: ρ = [0.6, 0.8], the single token is
  // the gated tail, w = ρ·(1 + 0.3·1/1) = [0.78, 1.04] = s; ŝ = [0, 0.26/(0.26 + 1e-8)] ≈ [0, 1];
  // inter = 1 + ŝ − 0.5 = [0.5, 1.5] → multipliers [0.5, 1.5]. Without the expert row the on-policy row is a group
  // of one: ŝ = 0, multiplier 1. The row sources are not read.
  const image = tf.tensor3d([[[1, 0]], [[1, 0]]]);
  const hidden = tf.tensor3d([[[0.2, Math.sqrt(1 - 0.04)]], [[0.6, 0.8]]]);
  const mask = tf.tensor2d([[1], [1]]);
  const zeros = tf.zeros([2, 1]) as tf.Tensor2D;
  const input = {
    advantages: tf.tensor2d([[-1], [1]]),
    mask,
    oldLogprobs: zeros,
    groupIndex: Int32Array.from([0, 0]),
    forward: { logprobs: zeros, hiddenStates: hidden, imageHiddenStates: image },
    rows: [
      { source: 'on' as const, reward: 0, accuracy: 0, length: 1 },
      { source: 'expert' as const, reward: 1, accuracy: 1, length: 1 },
    ],
  };
  const w = await new VgpoTokenWeighter(PAPER).weights(input);
  close(await w.data(), [0.5, 1.5], 1e-5, 'with the expert row');
  const alone = vgpoFromCosines(Float32Array.from([0.2]), Float32Array.from([1]), Int32Array.from([0]), 1, 1, PAPER);
  close(alone.multipliers, [1], 1e-6, 'on-policy row alone');
  const w2 = await new VgpoTokenWeighter(PAPER).weights({ ...input, rows: input.rows.map((r) => ({ ...r, source: 'on' as const })) });
  assert.deepEqual(Array.from(await w2.data()), Array.from(await w.data()), 'sources are not read');
  tf.dispose([w, w2, image, hidden, mask, zeros, input.advantages]);
});

test('prompt without image tokens: factor 1 on real tokens, 0 on padding (V-7)', async () => {
  const input = hiddenBatch();
  const noImage = { ...input, forward: { ...input.forward, imageHiddenStates: tf.zeros([2, 0, 2]) as tf.Tensor3D } };
  const warn = console.warn;
  const warnings: unknown[] = [];
  console.warn = (...args: unknown[]) => warnings.push(args);
  try {
    const before = tf.memory().numTensors;
    const w = await new VgpoTokenWeighter(OFFICIAL).weights(noImage);
    close(await w.data(), [1, 1, 1, 1, 1, 1, 0, 0], 0);
    w.dispose();
    assert.equal(tf.memory().numTensors, before);
  } finally {
    console.warn = warn;
  }
  assert.equal(warnings.length, 1);
  // A row whose image features are all zero (no image in that prompt) is left alone; the other row still changes.
  const r = vgpoFromCosines(Float32Array.from([0.1, 0.5, 0, 0]), new Float32Array(4).fill(1), Int32Array.from([0, 1]), 2, 2, PAPER, [1, 0]);
  close(row(r.multipliers, 1, 2, 2), [1, 1], 0, 'no-image row');
});

test('missing forward outputs are an error; the strategy declares its requirements and defaults', async () => {
  const input = hiddenBatch();
  const bare = { ...input, forward: { logprobs: input.forward.logprobs } };
  await assert.rejects(new VgpoTokenWeighter(OFFICIAL).weights(bare), /hiddenStates/);
  assert.deepEqual(vgpoWeighter.requires, ['hiddenStates', 'imageHiddenStates']);
  assert.equal(vgpoWeighter.name, 'vgpo');
  const props = vgpoWeighter.optionsSchema.properties;
  assert.equal(props.mode.default, 'official');
  assert.equal(props.beta.default, 0.3);
  assert.equal(props.tailRatio.default, 0.5);
  assert.equal(props.topFraction.default, 0.2);
  assert.equal(props.epsilon.default, 1e-8);
});

test('intra: false / inter: false drop one factor (the VGPO Table 3 ablation arms)', () => {
  for (const options of [PAPER, OFFICIAL]) {
    const full = vgpoFromCosines(S, MASK, GROUP, 2, L, options);
    const noIntra = vgpoFromCosines(S, MASK, GROUP, 2, L, { ...options, intra: false });
    const noInter = vgpoFromCosines(S, MASK, GROUP, 2, L, { ...options, inter: false });
    const neither = vgpoFromCosines(S, MASK, GROUP, 2, L, { ...options, intra: false, inter: false });
    for (let i = 0; i < 2; i++) {
      for (let t = 0; t < L; t++) {
        const k = i * L + t;
        if (MASK[k] === 0) {
          assert.equal(noIntra.multipliers[k], 0);
          continue;
        }
        assert.ok(Math.abs(noIntra.multipliers[k]! - full.inter[i]!) < 1e-6);
        assert.ok(Math.abs(noInter.multipliers[k]! - full.intra[k]!) < 1e-6);
        assert.equal(neither.multipliers[k], 1);
      }
    }
  }
});

test('step metrics: the multiplier spread, its halves, the gate, the factors (hand-computed)', () => {
  // N = 3, T = 3. Row 0: 3 tokens, row 1: 2 tokens, row 2: 1 token and no image (hasImage 0: not counted).
  // Multipliers = intra · inter: row 0 [0.5, 1, 0.25]·2 = [1, 2, 0.5]; row 1 [0.1, 0.7]·2 = [0.2, 1.4].
  const f = (xs: number[]) => Float32Array.from(xs);
  const b: VgpoBreakdown = {
    score: f(Array(9).fill(0)),
    gate: f([0, 0, 1, 0, 1, 0, 0, 0, 0]),
    w: f(Array(9).fill(0)),
    wHat: f(Array(9).fill(0)),
    intra: f([0.5, 1, 0.25, 0.1, 0.7, 0, 1, 0, 0]),
    s: f([0, 0, 0]),
    sHat: f([0, 0, 0]),
    inter: f([2, 2, 1]),
    multipliers: f([1, 2, 0.5, 0.2, 1.4, 0, 1, 0, 0]),
  };
  const mask = [1, 1, 1, 1, 1, 0, 1, 0, 0];
  const on = { intra: true, inter: true };
  const m = vgpoStepMetrics(b, mask, 3, 3, on, [1, 1, 0]);
  // Tokens [1, 2, 0.5, 0.2, 1.4]: mean 1.02; squared deviations sum 2.048 → sd √0.4096 = 0.64.
  // First halves (⌈3/2⌉ = 2, ⌈2/2⌉ = 1 tokens): [1, 2, 0.2] → 16/15; second halves [0.5, 1.4] → 0.95.
  // Gate 2 of 5; intra [0.5, 1, 0.25, 0.1, 0.7]: mean 0.51, sd √0.1024 = 0.32; inter [2, 2]: sd 0.
  const expected: Record<string, number> = {
    vgpo_multiplier_mean: 1.02,
    vgpo_multiplier_sd: 0.64,
    vgpo_multiplier_first_half: 16 / 15,
    vgpo_multiplier_second_half: 0.95,
    vgpo_gate_fraction: 0.4,
    vgpo_intra_sd: 0.32,
    vgpo_inter_sd: 0,
  };
  assert.deepEqual(Object.keys(m).sort(), Object.keys(expected).sort());
  for (const [k, v] of Object.entries(expected)) assert.ok(Math.abs(m[k]! - v) < 1e-6, `${k}: ${m[k]} vs ${v}`);
  // Every row with image tokens (hasImage omitted): row 2 joins with one token, inter [2, 2, 1] → sd √(2/9).
  const all = vgpoStepMetrics(b, mask, 3, 3, on);
  assert.ok(Math.abs(all['vgpo_inter_sd']! - Math.sqrt(2 / 9)) < 1e-6);
  assert.ok(Math.abs(all['vgpo_multiplier_mean']! - 6.1 / 6) < 1e-6);
  // A disabled factor is 1 everywhere: its sd is 0.
  const noIntra = vgpoStepMetrics(b, mask, 3, 3, { intra: false, inter: true }, [1, 1, 0]);
  assert.equal(noIntra['vgpo_intra_sd'], 0);
  assert.equal(vgpoStepMetrics(b, mask, 3, 3, { intra: true, inter: false }, [1, 1, 0])['vgpo_inter_sd'], 0);
  // No row with image tokens, or an empty mask: every metric 0 (never NaN).
  for (const none of [vgpoStepMetrics(b, mask, 3, 3, on, [0, 0, 0]), vgpoStepMetrics(b, Array(9).fill(0), 3, 3, on)]) {
    for (const v of Object.values(none)) assert.equal(v, 0);
  }
});

test('step metrics through the weighter: empty before the first batch, then those of its breakdown', async () => {
  const weighter = new VgpoTokenWeighter(OFFICIAL);
  assert.deepEqual(weighter.stepMetrics(), {});
  const hidden = tf.tensor3d([
    [[1, 0], [0, 1], [1, 1]],
    [[1, 1], [-1, 0], [0, 0]],
  ]);
  const imageHidden = tf.tensor3d([[[1, 0]], [[0, 1]]]);
  const mask = tf.tensor2d([
    [1, 1, 1],
    [1, 1, 0],
  ]);
  const out = (await weighter.weights({
    advantages: tf.ones([2, 3]),
    mask,
    oldLogprobs: tf.zeros([2, 3]),
    groupIndex: Int32Array.from([0, 0]),
    forward: { logprobs: tf.zeros([2, 3]), hiddenStates: hidden, imageHiddenStates: imageHidden },
  })) as tf.Tensor2D;
  const { S } = VgpoTokenWeighter.cosines(hidden, imageHidden, OFFICIAL.epsilon);
  const maskData = Float32Array.from([1, 1, 1, 1, 1, 0]);
  const breakdown = vgpoFromCosines((await S.data()) as Float32Array, maskData, Int32Array.from([0, 0]), 2, 3, OFFICIAL, [1, 1]);
  assert.deepEqual(weighter.stepMetrics(), vgpoStepMetrics(breakdown, maskData, 2, 3, OFFICIAL, [1, 1]));
  close(await out.data(), Array.from(breakdown.multipliers), 1e-6, 'multipliers');
  assert.ok(weighter.stepMetrics()['vgpo_multiplier_sd']! > 0);
  tf.dispose([hidden, imageHidden, mask, out, S]);
});
