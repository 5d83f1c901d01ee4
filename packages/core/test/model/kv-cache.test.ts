import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, VlmModel, disposeBatch, generateWithCache, type KvCache } from '../../src/index.js';
import { TINY, collate, maxAbsDiff, randomRows } from './fixtures.js';

before(async () => {
  await initBackend('wasm');
});

test('prefill + cached steps give the same logits as the uncached forward (within 1e-4)', async () => {
  const model = new VlmModel(TINY, { seed: 21 });
  const rows = randomRows(21, 3, [2, 5, 3], 6); // different prompt lengths: left padding in the cache
  const batch = collate(rows);
  const full = tf.tidy(() => model.responseLogits(batch)); // [N, T, V]
  const fullData = (await full.data()) as Float32Array;
  const [n, t, v] = full.shape;
  full.dispose();

  const n0 = tf.memory().numTensors;
  let { logits, cache } = model.prefill(batch.images, batch.promptTokens, batch.promptMask);
  for (let step = 0; step < t; step++) {
    const got = (await logits.data()) as Float32Array;
    logits.dispose();
    for (let r = 0; r < n; r++) {
      const want = fullData.slice((r * t + step) * v, (r * t + step + 1) * v);
      const diff = maxAbsDiff(got.slice(r * v, (r + 1) * v), want);
      assert.ok(diff < 1e-4, `row ${r} step ${step}: cached logits differ by ${diff}`);
    }
    if (step === t - 1) break;
    const tokens = rows.map((row) => row.responseTokens[step]!);
    const positions = rows.map((row) => row.promptTokens.length + step);
    const next: { logits: tf.Tensor2D; cache: KvCache } = model.step(tokens, positions, cache);
    cache.dispose();
    ({ logits, cache } = next);
  }
  cache.dispose();
  assert.equal(tf.memory().numTensors, n0, 'no tensors leak');
  disposeBatch(batch);
  model.dispose();
});

test('selectRows fans out and reorders cache rows', async () => {
  const model = new VlmModel(TINY, { seed: 22 });
  const rows = randomRows(22, 2, [3, 4], 2);
  const batch = collate(rows);
  const { logits, cache } = model.prefill(batch.images, batch.promptTokens, batch.promptMask);
  logits.dispose();
  const fanned = cache.selectRows([1, 0, 1]);
  assert.equal(fanned.rows, 3);
  assert.equal(fanned.length, cache.length);
  const a = model.step([5, 6, 5], [4, 3, 4], fanned);
  const b = model.step([6, 5], [3, 4], cache);
  const da = (await a.logits.data()) as Float32Array;
  const db = (await b.logits.data()) as Float32Array;
  const v = TINY.vocabSize;
  assert.ok(maxAbsDiff(da.slice(0, v), db.slice(v, 2 * v)) < 1e-6, 'row 0 of the fan-out is row 1');
  assert.ok(maxAbsDiff(da.slice(v, 2 * v), db.slice(0, v)) < 1e-6, 'row 1 of the fan-out is row 0');
  assert.ok(maxAbsDiff(da.slice(0, v), da.slice(2 * v)) < 1e-6, 'repeated rows agree');
  [a.cache, b.cache, fanned, cache].forEach((c) => c.dispose());
  tf.dispose([a.logits, b.logits]);
  disposeBatch(batch);
  model.dispose();
});

test('generateWithCache: sampled logprobs equal the uncached forward at the sampling temperature', async () => {
  const model = new VlmModel(TINY, { seed: 23 });
  const prompts = randomRows(23, 2, [2, 4], 1);
  const request = {
    images: prompts.map((p) => p.image),
    promptTokens: prompts.map((p) => [...p.promptTokens]),
    samplesPerPrompt: 3,
    maxNewTokens: 7,
    temperature: 0.8,
    topP: 0.9,
    greedy: false,
    seed: 4,
  };
  const n0 = tf.memory().numTensors;
  const out = await generateWithCache(model, request, 2, 0);
  assert.equal(tf.memory().numTensors, n0, 'generate leaks no tensors');
  assert.equal(out.tokens.length, 6);
  const rows = out.tokens.map((tokens, r) => ({ ...prompts[Math.floor(r / 3)]!, responseTokens: tokens }));
  const batch = collate(rows);
  const lp = tf.tidy(() => model.responseLogprobs(batch, 0.8));
  const data = (await lp.data()) as Float32Array;
  const t = lp.shape[1];
  out.tokens.forEach((tokens, r) => {
    const diff = maxAbsDiff(out.logprobs[r]!, data.slice(r * t, r * t + tokens.length));
    assert.ok(diff < 1e-4, `row ${r}: generate vs forward logprobs differ by ${diff}`);
  });
  lp.dispose();
  disposeBatch(batch);
  model.dispose();
});
