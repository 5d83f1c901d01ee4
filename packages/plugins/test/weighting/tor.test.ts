import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Value } from '@sinclair/typebox/value';
import { Rng, VlmModel, collateSequences, disposeBatch, initBackend, type ForwardOutputs, type VlmArchitecture } from '@mmrl/core';
import {
  TOR_STEP_METRICS,
  TorOptions,
  TorTokenWeighter,
  selectTorSets,
  selectTorWeights,
  torSetSize,
  torStepMetrics,
  torWeighter,
  type TorSelectionOptions,
} from '../../src/weighting/tor.js';

before(async () => {
  await initBackend('wasm');
});

const DEFAULTS: TorOptions = {
  reasoningQuantile: 0.3,
  perceptionQuantile: 0.3,
  reasoningWeight: 1,
  perceptionWeight: 0.5,
  entropyTopP: 0.95,
  seed: 0,
};
const SEL: TorSelectionOptions = DEFAULTS;

// Fixture F9 (METHODS.md §3.3): 10 tokens, k = ⌈0.3·10⌉ = 3.
const H = [2.1, 0.0, 0.3, 1.5, 0.0, 0.9, 0.05, 0.0, 1.2, 0.4];
const L_OLD = [-0.2, -0.01, -1.0, -0.7, -0.05, -0.3, -2.0, -0.02, -0.6, -0.9];
const L_BLIND = [-0.3, -0.01, -3.5, -0.8, -0.06, -0.35, -2.1, -0.9, -0.65, -0.95];
/** S of F9 with the three-way tie at 0.1 exact (tokens 0, 3, 6). */
const S = [0.1, 0.0, 2.5, 0.1, 0.01, 0.05, 0.1, 0.88, 0.05, 0.05];
const W_F9 = [1, 0, 0.5, 1, 0, 0, 0, 0.5, 1, 0];
const ONES = new Array(10).fill(1);
/** A tie order that puts `first` ahead of every other token. */
const favour = (first: number, n = 10) => Array.from({ length: n }, (_, i) => (i === first ? -1 : i));

const close = (a: ArrayLike<number>, b: number[]) => {
  assert.equal(a.length, b.length);
  b.forEach((v, i) => assert.ok(Math.abs(a[i]! - v) < 1e-6, `${i}: ${a[i]} vs ${v}`));
};
const count = (w: ArrayLike<number>, v: number) => Array.from(w).filter((x) => x === v).length;

test('set sizes are ⌈q·N_tok⌉ without float noise', () => {
  assert.equal(torSetSize(0.3, 10), 3);
  assert.equal(torSetSize(0.3, 11), 4);
  assert.equal(torSetSize(0.3, 3), 1);
  assert.equal(torSetSize(0.1, 30), 3, '0.1·30 = 3.0000000000000004 in float64');
  assert.equal(torSetSize(0.7, 10), 7);
  assert.equal(torSetSize(0, 10), 0);
  assert.equal(torSetSize(1, 10), 10);
  assert.equal(torSetSize(0.3, 0), 0);
});

test('F9: weights; exactly 3 perception tokens; the tie order decides among tokens 0, 3, 6', () => {
  // T_r = {0, 3, 8}; T_p = {2, 7} + one of the tied {0, 3, 6}.
  for (const pick of [0, 3]) {
    // Token 0 or 3 is also a reasoning token: γ_r only, the weights are the table's.
    close(selectTorWeights(H, S, ONES, SEL, favour(pick)), W_F9);
    const perceptionOnly = selectTorWeights(H, S, ONES, { ...SEL, reasoningQuantile: 0 }, favour(pick));
    close(perceptionOnly, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => (i === 2 || i === 7 || i === pick ? 0.5 : 0)));
  }
  const w6 = selectTorWeights(H, S, ONES, SEL, favour(6));
  close(w6, [1, 0, 0.5, 1, 0, 0, 0.5, 0.5, 1, 0]);
  // Without a tie order: index order (token 0).
  close(selectTorWeights(H, S, ONES, { ...SEL, reasoningQuantile: 0 }), [0.5, 0, 0.5, 0, 0, 0, 0, 0.5, 0, 0]);
  // Separate orders per selection.
  close(selectTorWeights(H, S, ONES, SEL, { perception: favour(6) }), Array.from(w6));
  close(selectTorWeights(H, S, ONES, SEL, { reasoning: favour(6) }), W_F9);
  // The table's S (float64 differences) picks token 3 without any tie order.
  const s64 = L_OLD.map((l, i) => Math.abs(l - L_BLIND[i]!));
  close(selectTorWeights(H, s64, ONES, SEL), W_F9);
  // PG loss 0.5 per token: token-mean over all 10 tokens vs over the 5 selected tokens (T-7).
  const w = selectTorWeights(H, S, ONES, SEL, favour(3));
  const loss = Array.from(w, (x) => x * 0.5).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(loss / 10 - 0.2) < 1e-9);
  assert.ok(Math.abs(loss / w.filter((x) => x > 0).length - 0.4) < 1e-9);
});

test('a token in both sets gets γ_r only, not γ_r + γ_p', () => {
  const w = selectTorWeights([5, 0, 0, 0], [5, 0, 0, 0], [1, 1, 1, 1], { ...SEL, reasoningQuantile: 0.25, perceptionQuantile: 0.25, reasoningWeight: 2 });
  close(w, [2, 0, 0, 0]);
});

test('padding gets 0 and does not count in N_tok', () => {
  // Padding (mask 0) carries the largest scores; N_tok = 7 → k = ⌈2.1⌉ = 3.
  const h = [9, 9, 9, 1, 2, 3, 4, 5, 6, 7];
  const s = [9, 9, 9, 7, 6, 5, 4, 3, 2, 1];
  const mask = [0, 0, 0, 1, 1, 1, 1, 1, 1, 1];
  close(selectTorWeights(h, s, mask, SEL), [0, 0, 0, 0.5, 0.5, 0.5, 0, 1, 1, 1]);
  close(selectTorWeights(h, s, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0], SEL), new Array(10).fill(0));
  assert.throws(() => selectTorWeights(h, s, [1], SEL), /length/);
  assert.throws(() => selectTorWeights(h, s, mask, SEL, [1, 2]), /tieOrder/);
});

test('all-tied scores (all zero entropies) still select exactly ⌈q·N⌉ tokens; NaN ranks last', () => {
  const zeros = new Array(20).fill(0);
  const mask = new Array(20).fill(1);
  const w = selectTorWeights(zeros, zeros, mask, { ...SEL, perceptionQuantile: 0 });
  assert.equal(count(w, 1), 6);
  assert.equal(count(w, 0), 14);
  const rng = new Rng(3);
  const order = rng.shuffle(Array.from({ length: 20 }, (_, i) => i));
  const ranks = new Array<number>(20);
  order.forEach((tok, r) => (ranks[tok] = r));
  const wr = selectTorWeights(zeros, zeros, mask, { ...SEL, perceptionQuantile: 0 }, ranks);
  assert.deepEqual(
    Array.from(wr).flatMap((x, i) => (x === 1 ? [i] : [])),
    order.slice(0, 6).sort((a, b) => a - b),
    'the six first tokens of the tie order',
  );
  const withNaN = selectTorWeights([NaN, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], { ...SEL, reasoningQuantile: 0.75, perceptionQuantile: 0 });
  close(withNaN, [0, 1, 1, 1]);
});

test('step metrics on F9: entropies, image dependences, thresholds, ties, overlap and where the sets sit', () => {
  // favour(3): T_r = {0, 3, 8} (H 2.1, 1.5, 1.2); T_p = {2, 7, 3} (S 2.5, 0.88, then 3 of the tie 0.1 at 0, 3, 6).
  const sets = selectTorSets(H, S, ONES, SEL, favour(3));
  assert.deepEqual([sets.reasoning, sets.perception], [[0, 3, 8], [2, 7, 3]]);
  const expected: Record<string, number> = {
    tor_tokens: 10,
    tor_entropy_mean: 0.645, // ΣH = 6.45 over 10 tokens
    tor_entropy_zero_fraction: 0.3, // tokens 1, 4, 7
    tor_entropy_threshold: 1.2,
    tor_image_dependence_mean: 0.384, // ΣS = 3.84
    tor_image_dependence_threshold: 0.1,
    tor_reasoning_tied_fraction: 0, // one token at H = 1.2, one slot left for it: a ranking
    tor_perception_tied_fraction: 1 / 3, // one slot among three tokens at S = 0.1: 1 of the 3 picks is a lottery
    tor_overlap_fraction: 0.1, // token 3 in both
    tor_zero_fraction: 0.5, // 10 − |{0, 2, 3, 7, 8}|
    tor_reasoning_first_half: 2 / 3, // first ⌈10/2⌉ = 5 positions: 0 and 3 of {0, 3, 8}
    tor_perception_first_half: 2 / 3, // 2 and 3 of {2, 7, 3}
  };
  const m = torStepMetrics(H, S, sets, 10);
  assert.deepEqual(Object.keys(m).sort(), Object.keys(expected).sort());
  for (const [k, v] of Object.entries(expected)) assert.ok(Math.abs(m[k]! - v) < 1e-12, `${k}: ${m[k]} vs ${v}`);

  // Two rows of T = 4 with padding: row 0 has 3 valid tokens (first half: positions 0, 1), row 1 has 2 (position 0).
  // N_tok = 5, k = ⌈1.5⌉ = 2: T_r = {0, 2} by H (3, 2), T_p = {1, 4} by S (5, 4).
  const h = [3, 0, 2, 9, 0, 1, 9, 9];
  const sc = [0, 5, 0, 9, 4, 0, 9, 9];
  const mask = [1, 1, 1, 0, 1, 1, 0, 0];
  const two = torStepMetrics(h, sc, selectTorSets(h, sc, mask, SEL), 4);
  assert.equal(two['tor_tokens'], 5);
  assert.equal(two['tor_entropy_zero_fraction'], 0.4);
  assert.equal(two['tor_reasoning_first_half'], 0.5); // token 0 (position 0) yes, token 2 (position 2 of 3) no
  assert.equal(two['tor_perception_first_half'], 1); // token 1 (position 1 of 3), token 4 (position 0 of 2)
  assert.equal(two['tor_zero_fraction'], 0.2); // token 5 only

  // All entropies 0: the reasoning set is a lottery among ties (tied fraction 1, threshold 0).
  const zeros = new Array(20).fill(0);
  const all = new Array(20).fill(1);
  const lottery = torStepMetrics(zeros, zeros, selectTorSets(zeros, zeros, all, SEL), 20);
  assert.deepEqual([lottery['tor_entropy_zero_fraction'], lottery['tor_entropy_threshold'], lottery['tor_reasoning_tied_fraction']], [1, 0, 1]);
  // No valid tokens: every metric 0, no NaN.
  const none = torStepMetrics(H, S, selectTorSets(H, S, new Array(10).fill(0), SEL), 10);
  assert.ok(Object.values(none).every((v) => v === 0));
  assert.deepEqual(Object.keys(none).sort(), [...TOR_STEP_METRICS].sort());
});

/** WeighterInput of one or more rows built by hand. */
function handInput(h: number[][], lOld: number[][], lBlind: number[][], mask: number[][]) {
  const oldLogprobs = tf.tensor2d(lOld);
  const forward: ForwardOutputs = { logprobs: oldLogprobs, topPEntropy: tf.tensor2d(h), imagelessLogprobs: tf.tensor2d(lBlind) };
  return {
    advantages: tf.onesLike(oldLogprobs) as tf.Tensor2D,
    mask: tf.tensor2d(mask),
    oldLogprobs,
    groupIndex: Int32Array.from(h.map(() => 0)),
    forward,
  };
}

test('schema defaults, forwardRequest and registration', () => {
  assert.deepEqual(Value.Create(TorOptions), DEFAULTS);
  assert.equal(Value.Check(TorOptions, { ...DEFAULTS, extra: 1 }), false);
  assert.equal(Value.Check(TorOptions, { ...DEFAULTS, seed: 0.5 }), false);
  assert.equal(Value.Check(TorOptions, { ...DEFAULTS, entropyTopP: 0 }), false);
  assert.equal(torWeighter.name, 'tor');
  assert.deepEqual([...(torWeighter.requires ?? [])], ['entropy', 'imagelessLogprobs']);
  const weighter = new TorTokenWeighter({ ...DEFAULTS, entropyTopP: 0.9 });
  assert.deepEqual(weighter.forwardRequest, { topPEntropy: 0.9, imagelessLogprobs: true });
});

test('weights() on F9 tensors: the table up to the tie at S = 0.1; no tensors leak; missing inputs throw', async () => {
  const x = handInput([H], [L_OLD], [L_BLIND], [ONES]);
  const before = tf.memory().numTensors;
  const weighter = new TorTokenWeighter(DEFAULTS);
  assert.deepEqual(weighter.stepMetrics(), {});
  const w = await weighter.weights(x);
  assert.deepEqual(w.shape, [1, 10]);
  // The step metrics of that call: F9's entropies (exact), its 10 tokens and 3 + 3 selected.
  const metrics = weighter.stepMetrics();
  assert.equal(metrics['tor_tokens'], 10);
  assert.ok(Math.abs(metrics['tor_entropy_mean']! - 0.645) < 1e-6);
  assert.ok(Math.abs(metrics['tor_entropy_threshold']! - 1.2) < 1e-6);
  const data = await w.data();
  w.dispose();
  assert.equal(tf.memory().numTensors, before);
  // Which of 0, 3, 6 wins depends on float32 rounding; 0 or 3 gives the table, 6 adds γ_p on token 6.
  close(data, data[6] === 0.5 ? [1, 0, 0.5, 1, 0, 0, 0.5, 0.5, 1, 0] : W_F9);
  assert.equal(count(data, 1), 3);

  // Two rows with padding: [2, 5] equals the flattened selection.
  const two = handInput(
    [H.slice(0, 5), H.slice(5)],
    [L_OLD.slice(0, 5), L_OLD.slice(5)],
    [L_BLIND.slice(0, 5), L_BLIND.slice(5)],
    [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]],
  );
  const w2 = await (await new TorTokenWeighter(DEFAULTS).weights(two)).data();
  // N_tok = 8 → k = 3; T_r = {0, 3, 5}; T_p = {2, 7 (padding, excluded) → 2, then the 0.1 tie}.
  assert.equal(w2[8], 0);
  assert.equal(w2[9], 0);
  assert.equal(count(w2, 1), 3);
  assert.deepEqual([w2[0], w2[3], w2[5]], [1, 1, 1]);

  const missing = { ...x, forward: { logprobs: x.oldLogprobs } };
  await assert.rejects(async () => new TorTokenWeighter(DEFAULTS).weights(missing), /topPEntropy/);
});

test('off-policy rows compete for the batch-wide slots and can get weight 0 like any token', async () => {
  // Row 0 on-policy, row 1 expert; H = [0.1, 0.2 | 0.9, 0.8]; q_r = 0.5 → ⌈0.5·4⌉ = 2 reasoning slots over N_tok = 4
  // (the expert's tokens count) → T_r = {expert t0, expert t1}; q_p = 0 → no perception token.
  // w = [0, 0 | 1, 1]: the on-policy tokens get 0. With H = [0.9, 0.8 | 0.1, 0.2] the expert's tokens get 0 instead,
  // which also zeroes A on them where the tgrl override applies (A after every multiplier).
  const x = handInput([[0.1, 0.2], [0.9, 0.8]], [[-1, -1], [-1, -1]], [[-1, -1], [-1, -1]], [[1, 1], [1, 1]]);
  const rows = [
    { source: 'on' as const, reward: 0, accuracy: 0, length: 2 },
    { source: 'expert' as const, reward: 1, accuracy: 1, length: 2 },
  ];
  const options = { ...DEFAULTS, reasoningQuantile: 0.5, perceptionQuantile: 0 };
  const w = await new TorTokenWeighter(options).weights({ ...x, rows });
  close(await w.data(), [0, 0, 1, 1]);
  const y = handInput([[0.9, 0.8], [0.1, 0.2]], [[-1, -1], [-1, -1]], [[-1, -1], [-1, -1]], [[1, 1], [1, 1]]);
  const w2 = await new TorTokenWeighter(options).weights({ ...y, rows });
  close(await w2.data(), [1, 1, 0, 0]);
  tf.dispose([w, w2]);
});

test('seeded tie-break: the same seed gives the same weights call after call; another seed others', async () => {
  const zeros = [new Array(20).fill(0)];
  const x = handInput(zeros, zeros, zeros, [new Array(20).fill(1)]);
  const run = async (seed: number) => {
    const weighter = new TorTokenWeighter({ ...DEFAULTS, seed });
    const out: number[][] = [];
    for (let i = 0; i < 3; i++) out.push(Array.from(await (await weighter.weights(x)).data()));
    return out;
  };
  const [a, b, c] = [await run(0), await run(0), await run(1)];
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  for (const w of a) {
    assert.equal(count(w, 1), 6, 'exactly ⌈0.3·20⌉ reasoning tokens');
    assert.ok(count(w, 0.5) <= 6, 'the perception set is drawn independently and may overlap the reasoning set');
  }
});

test('end to end: a tiny VlmModel forward with the weighter forwardRequest supplies the inputs', async () => {
  const arch: VlmArchitecture = {
    vocabSize: 12,
    dModel: 16,
    layers: 1,
    heads: 2,
    ffnDim: 32,
    patchSize: 4,
    maxPositions: 32,
    imageShape: [8, 8],
  };
  const model = new VlmModel(arch, { seed: 5 });
  const rng = new Rng(11);
  const rows = [4, 6, 3].map((len) => ({
    image: Float32Array.from({ length: 64 }, () => rng.next()),
    promptTokens: [1, 3 + rng.int(9)],
    responseTokens: Array.from({ length: len }, () => 3 + rng.int(9)),
  }));
  const batch = collateSequences(rows, arch.imageShape, 0);
  const weighter = new TorTokenWeighter(DEFAULTS);
  const before = tf.memory().numTensors;
  const forward = model.responseForward(batch, { outputs: weighter.forwardRequest });
  assert.ok(forward.topPEntropy && forward.imagelessLogprobs);
  const advantages = tf.onesLike(forward.logprobs) as tf.Tensor2D;
  const w = await weighter.weights({
    advantages,
    mask: batch.responseMask,
    oldLogprobs: forward.logprobs,
    groupIndex: Int32Array.from([0, 0, 0]),
    forward,
  });
  tf.dispose([advantages, ...(Object.values(forward) as tf.Tensor[])]);
  assert.deepEqual(w.shape, batch.responseMask.shape);
  const [data, mask] = [await w.data(), await batch.responseMask.data()];
  w.dispose();
  assert.equal(tf.memory().numTensors, before);
  const nTok = Array.from(mask).reduce((a, b) => a + b, 0);
  assert.equal(nTok, 13);
  assert.equal(count(data, 1), torSetSize(0.3, nTok));
  assert.ok(count(data, 0.5) <= torSetSize(0.3, nTok));
  data.forEach((v, i) => assert.ok(mask[i] === 1 || v === 0, `padding ${i} has weight ${v}`));
  disposeBatch(batch);
  model.dispose();
});
