import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, VlmModel, disposeBatch, vlmParameterSpecs, Rng } from '../../src/index.js';
import { TINY, collate, maxAbsDiff, randomImage, randomRows } from './fixtures.js';

before(async () => {
  await initBackend('wasm');
});

async function logprobsOf(model: VlmModel, rows: Parameters<typeof collate>[0], temperature = 1, responseLength?: number) {
  const batch = collate(rows, responseLength);
  const lp = tf.tidy(() => model.responseLogprobs(batch, temperature));
  const out = { shape: lp.shape, data: (await lp.data()) as Float32Array };
  lp.dispose();
  disposeBatch(batch);
  return out;
}

test('parameters follow the spec list, with unique names and the expected count', () => {
  const model = new VlmModel(TINY, { seed: 1 });
  const specs = vlmParameterSpecs(TINY);
  assert.equal(model.variables.length, specs.length);
  assert.equal(new Set(model.variables.map((v) => v.name)).size, specs.length);
  const other = new VlmModel(TINY, { seed: 1 });
  assert.ok(model.variables.every((v, i) => v.name !== other.variables[i]!.name), 'names unique across instances');
  const expected = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  assert.equal(model.parameterCount(), expected);
  model.dispose();
  other.dispose();
});

test('initial weights are deterministic in the seed', async () => {
  const a = new VlmModel(TINY, { seed: 7 });
  const b = new VlmModel(TINY, { seed: 7 });
  const c = new VlmModel(TINY, { seed: 8 });
  const wa = await a.exportWeights();
  const wb = await b.exportWeights();
  const wc = await c.exportWeights();
  assert.deepEqual(wa.map((t) => Array.from(t.data)), wb.map((t) => Array.from(t.data)));
  assert.notDeepEqual(wa[0]!.data, wc[0]!.data);
  [a, b, c].forEach((m) => m.dispose());
});

test('forward shapes: logits [N, T, V], logprobs [N, T]', async () => {
  const model = new VlmModel(TINY, { seed: 1 });
  const batch = collate(randomRows(1, 3, [2, 4], 5));
  const logits = tf.tidy(() => model.responseLogits(batch));
  const lp = tf.tidy(() => model.responseLogprobs(batch));
  assert.deepEqual(logits.shape, [3, 5, TINY.vocabSize]);
  assert.deepEqual(lp.shape, [3, 5]);
  assert.ok(Array.from(await lp.data()).every((x) => Number.isFinite(x) && x <= 0), 'finite, non-positive logprobs');
  tf.dispose([logits, lp]);
  disposeBatch(batch);
  model.dispose();
});

test('logprobs over the whole vocabulary sum to one (logsumexp ≈ 0), at any temperature', async () => {
  const model = new VlmModel(TINY, { seed: 2 });
  const rng = new Rng(5);
  const image = randomImage(rng);
  const prompt = [1, 4, 5];
  const history = [6, 7];
  // One row per candidate token v at response position 2 (same context before it).
  const rows = Array.from({ length: TINY.vocabSize }, (_, v) => ({ image, promptTokens: prompt, responseTokens: [...history, v] }));
  for (const temperature of [1, 0.7]) {
    const { data } = await logprobsOf(model, rows, temperature);
    for (let pos = 0; pos < 3; pos++) {
      const col = Array.from({ length: TINY.vocabSize }, (_, v) => data[v * 3 + pos]!);
      if (pos < 2) assert.ok(maxAbsDiff(col, col.map(() => col[0]!)) < 1e-6, 'same context, same logprob');
      else {
        const lse = Math.log(col.reduce((s, x) => s + Math.exp(x), 0));
        assert.ok(Math.abs(lse) < 1e-5, `logsumexp ${lse} at temperature ${temperature}`);
      }
    }
  }
  model.dispose();
});

test('temperature divides the logits before the softmax', async () => {
  const model = new VlmModel(TINY, { seed: 3 });
  const batch = collate(randomRows(3, 2, [3], 4));
  const [direct, viaLogits] = tf.tidy(() => {
    const lp = model.responseLogprobs(batch, 0.5);
    const ref = tf.sum(tf.mul(tf.logSoftmax(tf.div(model.responseLogits(batch), 0.5)), tf.oneHot(batch.responseTokens, TINY.vocabSize)), -1);
    return [lp, ref];
  });
  const diff = maxAbsDiff(await direct!.data(), await viaLogits!.data());
  assert.ok(diff < 1e-5, `differs by ${diff}`);
  tf.dispose([direct!, viaLogits!]);
  disposeBatch(batch);
  model.dispose();
});

test('left padding of the prompt does not change a row (positions count real tokens only)', async () => {
  const model = new VlmModel(TINY, { seed: 4 });
  const [row, longer] = randomRows(9, 2, [3, 6], 5) as [ReturnType<typeof randomRows>[0], ReturnType<typeof randomRows>[0]];
  const alone = await logprobsOf(model, [row]);
  const padded = await logprobsOf(model, [row, longer]); // row gets 3 pad columns
  assert.equal(padded.shape[1], 5);
  assert.ok(maxAbsDiff(alone.data, padded.data.slice(0, 5)) < 1e-5, 'same logprobs with left padding');
  model.dispose();
});

test('causal: a response token does not influence the logprobs of earlier ones', async () => {
  const model = new VlmModel(TINY, { seed: 5 });
  const [row] = randomRows(11, 1, [3], 5);
  const changed = { ...row!, responseTokens: [...row!.responseTokens.slice(0, 3), 3, 4] };
  const a = await logprobsOf(model, [row!]);
  const b = await logprobsOf(model, [changed]);
  // Tokens 3 and 4 changed: the logprobs of tokens 0–2 are untouched.
  const diff = maxAbsDiff(a.data.slice(0, 3), b.data.slice(0, 3));
  assert.ok(diff < 1e-6, `earlier logprobs moved by ${diff}`);
  model.dispose();
});

test('the logprobs depend on the image', async () => {
  const model = new VlmModel(TINY, { seed: 6 });
  const [row] = randomRows(12, 1, [3], 5);
  const other = { ...row!, image: randomImage(new Rng(99)) };
  const a = await logprobsOf(model, [row!]);
  const b = await logprobsOf(model, [other]);
  const diff = maxAbsDiff(a.data, b.data);
  assert.ok(diff > 1e-4, `image change moved the logprobs by only ${diff}`);
  model.dispose();
});

test('a few Adam steps raise the logprob of a fixed sequence; no tensors leak', async () => {
  const model = new VlmModel(TINY, { seed: 7 });
  const batch = collate(randomRows(13, 2, [3, 4], 6));
  const meanLogprob = () =>
    tf.tidy(() => tf.div(tf.sum(tf.mul(model.responseLogprobs(batch), batch.responseMask)), tf.sum(batch.responseMask)) as tf.Scalar);
  const before0 = meanLogprob();
  const start = (await before0.data())[0]!;
  before0.dispose();

  const n0 = tf.memory().numTensors;
  const g = tf.variableGrads(() => tf.neg(meanLogprob()) as tf.Scalar, model.variables);
  assert.equal(Object.keys(g.grads).length, model.variables.length, 'every variable gets a gradient');
  for (const v of model.variables) assert.ok(g.grads[v.name], `gradient for ${v.name}`);
  tf.dispose(g.grads);
  g.value.dispose();
  assert.equal(tf.memory().numTensors, n0, 'no leak after forward + grad');

  const opt = tf.train.adam(1e-2);
  for (let i = 0; i < 5; i++) opt.minimize(() => tf.neg(meanLogprob()) as tf.Scalar, false, model.variables);
  const after = meanLogprob();
  const end = (await after.data())[0]!;
  after.dispose();
  assert.ok(end > start + 0.1, `mean logprob ${start} → ${end}`);
  opt.dispose();
  disposeBatch(batch);
  model.dispose();
});

test('clone copies the weights into independent variables', async () => {
  const model = new VlmModel(TINY, { seed: 8 });
  const copy = model.clone(false);
  assert.ok(copy.variables.every((v) => !v.trainable), 'clone(false) is frozen');
  const rows = randomRows(14, 2, [3], 4);
  const a = await logprobsOf(model, rows);
  assert.deepEqual(Array.from((await logprobsOf(copy, rows)).data), Array.from(a.data));
  model.parameter('head/b').assign(tf.fill([TINY.vocabSize], 0.5).add(tf.range(0, TINY.vocabSize)) as tf.Tensor1D);
  assert.ok(maxAbsDiff((await logprobsOf(model, rows)).data, a.data) > 1e-3, 'the original changed');
  assert.deepEqual(Array.from((await logprobsOf(copy, rows)).data), Array.from(a.data));
  copy.copyFrom(model);
  assert.deepEqual(Array.from((await logprobsOf(copy, rows)).data), Array.from((await logprobsOf(model, rows)).data));
  model.dispose();
  copy.dispose();
});

test('errors: wrong image size, too many positions', () => {
  const model = new VlmModel(TINY, { seed: 9 });
  const batch = collate(randomRows(15, 1, [3], 4));
  const wrong = { ...batch, images: tf.zeros([1, 8, 8]) as tf.Tensor3D };
  assert.throws(() => model.responseLogprobs(wrong), /8×8.*8×12/);
  wrong.images.dispose();
  disposeBatch(batch);
  const long = collate(randomRows(16, 1, [20], 20));
  assert.throws(() => model.responseLogprobs(long), /maxPositions 32/);
  disposeBatch(long);
  assert.throws(() => new VlmModel({ ...TINY, heads: 3 }, { seed: 1 }), /multiple of heads/);
  assert.throws(() => new VlmModel({ ...TINY, patchSize: 5 }, { seed: 1 }), /not divisible/);
  model.dispose();
});
