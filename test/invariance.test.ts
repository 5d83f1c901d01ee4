// Gradient accumulation over micro-batches and padding leave the mini-batch gradient unchanged (METHODS.md §5.3,
// G-5): every micro-batch's loss share uses the denominators of the whole mini-batch.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  GradientAccumulator,
  POLICY,
  Rng,
  StrategyRegistry,
  TASK,
  accumulateMiniBatch,
  collateSequences,
  createRunContainer,
  disposeBatch,
  encodePrompt,
  encodeResponse,
  initBackend,
  loadConfigFile,
  type Policy,
  type SequenceBatch,
  type UpdateBatch,
} from '@mmrl/core';
import builtins, { AGGREGATIONS, PpoClipPolicyObjective } from '@mmrl/plugins';
import { ROOT } from './helpers.js';

const N = 8;
let policy: Policy;
let base: UpdateBatch;
let padded: UpdateBatch;

/** `[N, T]` host values padded on the right to `width` columns with `fill`. */
function padColumns(values: Float32Array, n: number, t: number, width: number, fill: number): Float32Array {
  const out = new Float32Array(n * width).fill(fill);
  for (let i = 0; i < n; i++) out.set(values.subarray(i * t, (i + 1) * t), i * width);
  return out;
}

/** The same batch with `extra` more response padding columns and one more left-pad prompt column. */
function padBatch(batch: SequenceBatch, extra: number, padId: number): SequenceBatch {
  return tf.tidy(() => {
    const [n, t] = batch.responseTokens.shape;
    return {
      images: batch.images.clone(),
      promptTokens: tf.concat([tf.fill([n, 1], padId, 'int32'), batch.promptTokens], 1) as tf.Tensor2D,
      promptMask: tf.concat([tf.zeros([n, 1]), batch.promptMask], 1) as tf.Tensor2D,
      responseTokens: tf.concat([batch.responseTokens, tf.fill([n, extra], padId, 'int32')], 1) as tf.Tensor2D,
      responseMask: tf.concat([batch.responseMask, tf.zeros([n, extra])], 1) as tf.Tensor2D,
    };
  });
}

before(async () => {
  await initBackend('wasm');
  const registry = new StrategyRegistry().use(builtins);
  const { config, baseDir } = await loadConfigFile(registry, join(ROOT, 'test/fixtures/tiny.yaml'));
  const c = await createRunContainer(registry, config, { baseDir, kinds: ['task', 'policy'] });
  policy = c.resolve(POLICY);
  const task = c.resolve(TASK);
  const rng = new Rng(17);
  // Responses of different lengths (oracle traces cut at random points): the sequence-level modes differ.
  const rows = task.prompts('train', N, 3).map((p) => {
    const full = encodeResponse(policy.tokenizer, task.oracleResponse(p));
    return { image: p.image, promptTokens: encodePrompt(policy.tokenizer, p), responseTokens: full.slice(0, 3 + rng.int(full.length - 2)) };
  });
  const batch = collateSequences(rows, task.imageShape, policy.tokenizer.padId);
  const [n, t] = batch.responseTokens.shape;
  const mask = (await batch.responseMask.data()) as Float32Array;
  const live = (await tf.tidy(() => policy.forward(batch).logprobs).data()) as Float32Array;
  // Old and reference logprobs near the live ones (ratios off 1: some tokens clipped); advantages of both signs.
  const old = live.map((v) => v + 1.2 * (rng.next() - 0.5));
  const ref = live.map((v) => v + 0.6 * (rng.next() - 0.5));
  const rowAdv = Array.from({ length: n }, () => 2 * rng.next() - 1);
  const adv = mask.map((m, k) => m * rowAdv[Math.floor(k / t)]!);
  base = {
    batch,
    oldLogprobs: tf.tensor2d(old, [n, t]),
    referenceLogprobs: tf.tensor2d(ref, [n, t]),
    advantages: tf.tensor2d(adv, [n, t]),
    mask,
    tokens: t,
  };
  // Padding values are arbitrary (masked): use conspicuous ones.
  const w = t + 3;
  padded = {
    batch: padBatch(batch, 3, policy.tokenizer.padId),
    oldLogprobs: tf.tensor2d(padColumns(old, n, t, w, -7), [n, w]),
    referenceLogprobs: tf.tensor2d(padColumns(ref, n, t, w, 3), [n, w]),
    advantages: tf.tensor2d(padColumns(adv, n, t, w, 5), [n, w]),
    mask: padColumns(mask, n, t, w, 0),
    tokens: w,
  };
});

/** The mini-batch gradient of `rows`, flattened over all variables, and the summed metrics. */
async function gradient(data: UpdateBatch, objective: PpoClipPolicyObjective, rows: number[], microBatchSize: number) {
  const acc = new GradientAccumulator(policy.trainableVariables);
  accumulateMiniBatch(acc, policy, objective, data, rows, { microBatchSize, temperature: 1, maxLength: 20 });
  const parts = await Promise.all(acc.gradients().map((g) => (g ? g.data() : Promise.resolve(new Float32Array(0)))));
  const read = await acc.read();
  acc.dispose();
  const flat = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    flat.set(p as Float32Array, o);
    o += p.length;
  }
  return { flat, ...read };
}

/** max |a − b| / max |a|. */
function relDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!));
  }
  assert.ok(scale > 0, 'zero gradient');
  return d / scale;
}

for (const aggregation of AGGREGATIONS) {
  test(`${aggregation} + KL: gradient invariant to 1/2/4 micro-batches and to padding (< 1e-6 relative)`, async () => {
    const objective = new PpoClipPolicyObjective({
      clipLow: 0.2,
      clipHigh: 0.28,
      dualClip: 3,
      aggregation,
      klCoefficient: 0.1,
      klEstimator: 'k3',
    });
    const all = [...Array(N).keys()];
    const one = await gradient(base, objective, all, 0);
    assert.ok(Number.isFinite(one.loss) && one.metrics['kl']! > 0 && one.metrics['clip_fraction']! > 0, JSON.stringify(one.metrics));
    for (const micro of [4, 2]) {
      const split = await gradient(base, objective, all, micro);
      const d = relDiff(one.flat, split.flat);
      assert.ok(d < 1e-6, `${N / micro} micro-batches: relative gradient difference ${d}`);
      assert.ok(Math.abs(split.loss - one.loss) <= 1e-6 * Math.max(1, Math.abs(one.loss)), `loss ${split.loss} vs ${one.loss}`);
    }
    // A shuffled mini-batch of half the rows (the gathered path), whole vs in 2 and 4 micro-batches.
    const half = [6, 1, 3, 4];
    const h1 = await gradient(base, objective, half, 0);
    for (const micro of [2, 1]) {
      const d = relDiff(h1.flat, (await gradient(base, objective, half, micro)).flat);
      assert.ok(d < 1e-6, `half mini-batch in ${half.length / micro} micro-batches: ${d}`);
    }
    // Extra response padding columns and an extra left-pad prompt column.
    const pad = await gradient(padded, objective, all, 0);
    const dp = relDiff(one.flat, pad.flat);
    assert.ok(dp < 1e-6, `padding: relative gradient difference ${dp}`);
    const padMicro = await gradient(padded, objective, all, 2);
    assert.ok(relDiff(one.flat, padMicro.flat) < 1e-6, 'padding + 4 micro-batches');
  });
}

test('teardown', () => {
  for (const d of [base, padded]) {
    disposeBatch(d.batch);
    tf.dispose([d.oldLogprobs, d.advantages, d.referenceLogprobs!]);
  }
});
