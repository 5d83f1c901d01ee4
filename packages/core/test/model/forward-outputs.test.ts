import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  Rng,
  VlmModel,
  dense,
  disposeBatch,
  entropyFromLogits,
  extractPatches,
  initBackend,
  logSoftmaxRow,
  tokenLogprobs,
  topPEntropyFromLogSoftmax,
  topPEntropyFromLogits,
  type ForwardOutputs,
  type ForwardRequest,
  type SequenceRow,
} from '../../src/index.js';
import { TINY, collate, maxAbsDiff, randomImage, randomRows } from './fixtures.js';

before(async () => {
  await initBackend('wasm');
});

const ALL: ForwardRequest = {
  entropy: true,
  topPEntropy: 0.9,
  hiddenStates: true,
  imageHiddenStates: true,
  imagelessLogprobs: true,
  patchFeatures: true,
};
const P = (TINY.imageShape[0] / TINY.patchSize) * (TINY.imageShape[1] / TINY.patchSize);

/** Runs `responseForward` and reads every output (then disposes the tensors and the batch). */
async function forwardData(model: VlmModel, rows: readonly SequenceRow[], outputs?: ForwardRequest, temperature = 1) {
  const batch = collate(rows);
  const out = tf.tidy(() => model.responseForward(batch, { temperature, outputs }) as unknown as tf.TensorContainerObject) as unknown as ForwardOutputs;
  const data: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [k, v] of Object.entries(out)) data[k] = { shape: [...(v as tf.Tensor).shape], data: (await (v as tf.Tensor).data()) as Float32Array };
  tf.dispose(Object.values(out));
  disposeBatch(batch);
  return data;
}

/** Entropy (nats) of a probability vector, float64, 0 · log 0 = 0. */
function entropyOf(probs: readonly number[]): number {
  return -probs.reduce((s, p) => (p > 0 ? s + p * Math.log(p) : s), 0);
}

/** Reference top-p entropy on the CPU: sort descending, keep up to the token that crosses p, renormalise. */
function topPEntropyRef(probs: readonly number[], p: number): number {
  const sorted = [...probs].sort((a, b) => b - a);
  const kept: number[] = [];
  let mass = 0;
  for (const q of sorted) {
    kept.push(q);
    mass += q;
    if (mass >= p) break;
  }
  return entropyOf(kept.map((q) => q / mass));
}

test('entropy helpers on hand-made distributions: full, top-p (crossing token kept), p = 1, tiny p', async () => {
  const probs = [0.5, 0.3, 0.2];
  const logp = tf.log(tf.tensor2d([probs, [0.2, 0.5, 0.3]]));
  const logits = tf.tensor1d([2, 0.5, -1, 0]);
  const n0 = tf.memory().numTensors;
  const [full, p07, p1, tiny, p05, fromLogits, fromLogitsT, topFromLogits] = tf.tidy(() => [
    topPEntropyFromLogSoftmax(logp, 1),
    topPEntropyFromLogSoftmax(logp, 0.7),
    entropyFromLogits(logp),
    topPEntropyFromLogSoftmax(logp, 1e-6),
    topPEntropyFromLogSoftmax(logp, 0.5),
    entropyFromLogits(logits),
    entropyFromLogits(logits, 0.5),
    topPEntropyFromLogits(logits, 0.8, 0.5),
  ]);
  assert.equal(tf.memory().numTensors, n0 + 8, 'only the outputs remain');
  const h = entropyOf(probs);
  assert.ok(maxAbsDiff(await full!.data(), [h, h]) < 1e-6, 'p = 1: full entropy (any order of the vocabulary)');
  assert.ok(maxAbsDiff(await p1!.data(), [h, h]) < 1e-6);
  const h07 = entropyOf([0.625, 0.375]);
  assert.ok(maxAbsDiff(await p07!.data(), [h07, h07]) < 1e-6, `p = 0.7 keeps [0.5, 0.3] → ${h07}`);
  assert.deepEqual(Array.from(await tiny!.data()), [0, 0], 'tiny p: only the top token, entropy 0');
  // Mass exactly 0.5 after the first token: the smallest prefix reaching p is the top token alone.
  assert.deepEqual(Array.from(await p05!.data()), [0, 0]);
  const row = [2, 0.5, -1, 0];
  const soft = (t: number) => Array.from(logSoftmaxRow(row, 0, 4, t), Math.exp);
  assert.ok(Math.abs((await fromLogits!.data())[0]! - entropyOf(soft(1))) < 1e-6);
  assert.ok(Math.abs((await fromLogitsT!.data())[0]! - entropyOf(soft(0.5))) < 1e-6, 'temperature divides the logits');
  assert.ok(Math.abs((await topFromLogits!.data())[0]! - topPEntropyRef(soft(0.5), 0.8)) < 1e-6);
  assert.throws(() => topPEntropyFromLogSoftmax(logp, 0), /\(0, 1\]/);
  assert.throws(() => topPEntropyFromLogSoftmax(logp, 1.5), /\(0, 1\]/);
  tf.dispose([logp, logits, full!, p07!, p1!, tiny!, p05!, fromLogits!, fromLogitsT!, topFromLogits!]);
});

test('requesting nothing returns only logprobs, identical to responseLogprobs', async () => {
  const model = new VlmModel(TINY, { seed: 1 });
  const rows = randomRows(1, 2, [2, 4], 4);
  const batch = collate(rows);
  for (const outputs of [undefined, {}, { entropy: false, hiddenStates: false, imagelessLogprobs: false }]) {
    const out = tf.tidy(() => model.responseForward(batch, { outputs }) as unknown as tf.TensorContainerObject) as unknown as ForwardOutputs;
    assert.deepEqual(Object.keys(out), ['logprobs']);
    const ref = tf.tidy(() => model.responseLogprobs(batch));
    assert.deepEqual(Array.from(await out.logprobs.data()), Array.from(await ref.data()));
    tf.dispose([out.logprobs, ref]);
  }
  disposeBatch(batch);
  model.dispose();
});

test('shapes of every output; logprobs unchanged by the extras; no tensors leak', async () => {
  const model = new VlmModel(TINY, { seed: 2 });
  const rows = randomRows(2, 3, [2, 4], 5);
  const n0 = tf.memory().numTensors;
  const all = await forwardData(model, rows, ALL, 0.8);
  assert.equal(tf.memory().numTensors, n0, 'no leaks');
  const { dModel: d } = TINY;
  assert.deepEqual(Object.keys(all).sort(), ['logprobs', ...Object.keys(ALL)].sort());
  assert.deepEqual(all.logprobs!.shape, [3, 5]);
  assert.deepEqual(all.entropy!.shape, [3, 5]);
  assert.deepEqual(all.topPEntropy!.shape, [3, 5]);
  assert.deepEqual(all.hiddenStates!.shape, [3, 5, d]);
  assert.deepEqual(all.imageHiddenStates!.shape, [3, P, d]);
  assert.deepEqual(all.imagelessLogprobs!.shape, [3, 5]);
  assert.deepEqual(all.patchFeatures!.shape, [3, P, d]);
  for (const [k, v] of Object.entries(all)) assert.ok(v.data.every(Number.isFinite), `${k} finite`);
  const plain = await forwardData(model, rows, undefined, 0.8);
  assert.deepEqual(Array.from(all.logprobs!.data), Array.from(plain.logprobs!.data));
  model.dispose();
});

test('entropy and top-p entropy match a CPU computation from the logits, at temperature', async () => {
  const model = new VlmModel(TINY, { seed: 3 });
  const rows = randomRows(3, 2, [3, 2], 4);
  const temperature = 0.7;
  const v = TINY.vocabSize;
  const batch = collate(rows);
  const logits = tf.tidy(() => model.responseLogits(batch));
  const l = await logits.data();
  logits.dispose();
  disposeBatch(batch);
  const out = await forwardData(model, rows, { entropy: true, topPEntropy: 0.9 }, temperature);
  const one = await forwardData(model, rows, { topPEntropy: 1 }, temperature);
  const tiny = await forwardData(model, rows, { topPEntropy: 1e-4 }, temperature);
  for (let i = 0; i < 2 * 4; i++) {
    const probs = Array.from(logSoftmaxRow(l, i * v, v, temperature), Math.exp);
    assert.ok(Math.abs(out.entropy!.data[i]! - entropyOf(probs)) < 1e-5, `entropy at ${i}`);
    assert.ok(Math.abs(out.topPEntropy!.data[i]! - topPEntropyRef(probs, 0.9)) < 1e-5, `top-p entropy at ${i}`);
    assert.ok(Math.abs(one.topPEntropy!.data[i]! - out.entropy!.data[i]!) < 1e-6, 'p = 1 gives the entropy');
    assert.equal(tiny.topPEntropy!.data[i], 0, 'tiny p gives 0');
    assert.ok(out.topPEntropy!.data[i]! <= out.entropy!.data[i]! + 1e-6, 'truncation lowers the entropy');
  }
  model.dispose();
});

test('hiddenStates are the final-norm states the head scores: h · W + b reproduces the logprobs', async () => {
  const model = new VlmModel(TINY, { seed: 4 });
  const rows = randomRows(4, 3, [2, 5], 4);
  const batch = collate(rows);
  const temperature = 0.6;
  const [lp, viaHidden] = tf.tidy(() => {
    const out = model.responseForward(batch, { temperature, outputs: { hiddenStates: true } });
    const logits = dense(out.hiddenStates!, model.parameter('head/w') as tf.Tensor2D, model.parameter('head/b') as tf.Tensor1D);
    return [out.logprobs, tokenLogprobs(logits, batch.responseTokens, temperature)];
  });
  const diff = maxAbsDiff(await lp!.data(), await viaHidden!.data());
  assert.ok(diff < 1e-5, `differs by ${diff}`);
  tf.dispose([lp!, viaHidden!]);
  disposeBatch(batch);
  model.dispose();
});

test('imageHiddenStates: final-norm states of the image tokens, which see only the image (causal)', async () => {
  const model = new VlmModel(TINY, { seed: 5 });
  const [row, other] = randomRows(5, 2, [2, 4], 3) as [SequenceRow, SequenceRow];
  const a = await forwardData(model, [row], { imageHiddenStates: true });
  const b = await forwardData(model, [{ ...other, image: row.image }], { imageHiddenStates: true });
  const c = await forwardData(model, [other], { imageHiddenStates: true });
  assert.ok(maxAbsDiff(a.imageHiddenStates!.data, b.imageHiddenStates!.data) < 1e-5, 'the text does not change them');
  assert.ok(maxAbsDiff(a.imageHiddenStates!.data, c.imageHiddenStates!.data) > 1e-3, 'the image does');
  // Initial final norm (gain 1, bias 0): every state has mean 0 and variance ≈ 1 over d.
  const d = TINY.dModel;
  for (let k = 0; k < P; k++) {
    const h = a.imageHiddenStates!.data.slice(k * d, (k + 1) * d);
    const mean = h.reduce((s, x) => s + x, 0) / d;
    const variance = h.reduce((s, x) => s + (x - mean) ** 2, 0) / d;
    assert.ok(Math.abs(mean) < 1e-5 && Math.abs(variance - 1) < 1e-3, `patch ${k}: mean ${mean}, variance ${variance}`);
  }
  model.dispose();
});

test('patchFeatures: patch embedding plus patch position, before the decoder', async () => {
  const model = new VlmModel(TINY, { seed: 6 });
  const rows = randomRows(6, 2, [3], 3);
  const batch = collate(rows);
  const [got, ref, direct] = tf.tidy(() => {
    const out = model.responseForward(batch, { outputs: { patchFeatures: true } });
    const x = dense(extractPatches(batch.images, TINY.patchSize), model.parameter('patch/w') as tf.Tensor2D, model.parameter('patch/b') as tf.Tensor1D);
    return [out.patchFeatures!, tf.add(x, model.parameter('patch/pos')), model.patchFeatures(batch.images)];
  });
  assert.ok(maxAbsDiff(await got!.data(), await ref!.data()) < 1e-6);
  assert.deepEqual(Array.from(await got!.data()), Array.from(await direct!.data()));
  tf.dispose([got!, ref!, direct!]);
  disposeBatch(batch);
  model.dispose();
});

test('imagelessLogprobs: independent of the image, different from the image-conditioned logprobs', async () => {
  const model = new VlmModel(TINY, { seed: 7 });
  const [row] = randomRows(7, 1, [3], 5) as [SequenceRow];
  const other = { ...row, image: randomImage(new Rng(99)) };
  const a = await forwardData(model, [row], { imagelessLogprobs: true });
  const b = await forwardData(model, [other], { imagelessLogprobs: true });
  assert.ok(maxAbsDiff(a.logprobs!.data, b.logprobs!.data) > 1e-4, 'the image changes the logprobs');
  assert.deepEqual(Array.from(a.imagelessLogprobs!.data), Array.from(b.imagelessLogprobs!.data), 'but not the image-less ones');
  assert.ok(maxAbsDiff(a.logprobs!.data, a.imagelessLogprobs!.data) > 1e-4, 'removing the image changes the scores');
  model.dispose();
});

test('imagelessLogprobs: left-padding invariant; a distribution at the temperature', async () => {
  const model = new VlmModel(TINY, { seed: 8 });
  const [row, longer] = randomRows(8, 2, [2, 6], 4) as [SequenceRow, SequenceRow];
  const alone = await forwardData(model, [row], { imagelessLogprobs: true });
  const padded = await forwardData(model, [row, longer], { imagelessLogprobs: true }); // row gets 4 pad columns
  const diff = maxAbsDiff(alone.imagelessLogprobs!.data, padded.imagelessLogprobs!.data.slice(0, 4));
  assert.ok(diff < 1e-5, `left padding moved the image-less logprobs by ${diff}`);
  // Every candidate token at the last position: the image-less probabilities sum to one at the temperature.
  const v = TINY.vocabSize;
  const candidates = Array.from({ length: v }, (_, k) => ({ ...row, responseTokens: [...row.responseTokens.slice(0, 3), k] }));
  const all = await forwardData(model, candidates, { imagelessLogprobs: true }, 0.7);
  const lse = Math.log(Array.from({ length: v }, (_, k) => Math.exp(all.imagelessLogprobs!.data[k * 4 + 3]!)).reduce((s, x) => s + x, 0));
  assert.ok(Math.abs(lse) < 1e-5, `logsumexp ${lse}`);
  model.dispose();
});

test('gradients flow through logprobs, entropy and image-less logprobs with every output requested; no leaks', async () => {
  const model = new VlmModel(TINY, { seed: 9 });
  const batch = collate(randomRows(9, 2, [2, 3], 4));
  const n0 = tf.memory().numTensors;
  const g = tf.variableGrads(
    () =>
      tf.tidy(() => {
        const out = model.responseForward(batch, { temperature: 0.9, outputs: ALL });
        return tf.sum(tf.add(tf.add(out.logprobs, out.entropy!), out.imagelessLogprobs!)) as tf.Scalar;
      }),
    model.variables,
  );
  for (const v of model.variables) assert.ok(g.grads[v.name], `gradient for ${v.name}`);
  const norm = tf.tidy(() => tf.addN(Object.values(g.grads).map((t) => tf.sum(tf.abs(t)))));
  assert.ok((await norm.data())[0]! > 0);
  tf.dispose([norm, g.value, ...Object.values(g.grads)]);
  assert.equal(tf.memory().numTensors, n0, 'no leak after forward + grad');
  disposeBatch(batch);
  model.dispose();
});

test('errors: temperature, nucleus mass', () => {
  const model = new VlmModel(TINY, { seed: 10 });
  const batch = collate(randomRows(10, 1, [2], 2));
  assert.throws(() => model.responseForward(batch, { temperature: 0 }), /temperature/);
  assert.throws(() => model.responseForward(batch, { outputs: { topPEntropy: 0 } }), /\(0, 1\]/);
  assert.throws(() => model.responseForward(batch, { outputs: { topPEntropy: 2 } }), /\(0, 1\]/);
  disposeBatch(batch);
  model.dispose();
});
