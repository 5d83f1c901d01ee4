import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@mmrl/core';
import { PpoClipPolicyObjective, PpoClipOptions } from '../../src/objectives/ppo-clip.js';
import { aggregateLoss } from '../../src/objectives/aggregation.js';
import { klPenalty } from '../../src/objectives/kl.js';
import { GrpoAdvantageEstimator } from '../../src/advantage/grpo.js';

before(async () => {
  await initBackend('wasm');
});

const opts = (o: Partial<PpoClipOptions>): PpoClipOptions => ({
  clipLow: 0.2,
  clipHigh: 0.2,
  dualClip: null,
  aggregation: 'token-mean',
  klCoefficient: 0,
  klEstimator: 'k3',
  ...o,
});

const closeTo = (a: number, b: number, tol = 1e-5) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('F13: per-token clipped loss (symmetric, clip-higher, dual clip)', async () => {
  const r = [1.5, 0.5, 0.5, 1.1, 5.0];
  const A = [1, 1, -1, -1, -1];
  const cases: [Partial<PpoClipOptions>, number[]][] = [
    [{}, [-1.2, -0.5, 0.8, 1.1, 5.0]],
    [{ clipHigh: 0.28 }, [-1.28, -0.5, 0.8, 1.1, 5.0]],
    [{ clipHigh: 0.28, dualClip: 3 }, [-1.28, -0.5, 0.8, 1.1, 3.0]],
  ];
  for (const [o, expected] of cases) {
    const obj = new PpoClipPolicyObjective(opts(o));
    const logp = tf.tensor2d([r.map(Math.log)]);
    const old = tf.zeros([1, 5]) as tf.Tensor2D;
    const { loss } = obj.tokenLoss(logp, old, tf.tensor2d([A]));
    const got = await loss.data();
    expected.forEach((e, i) => closeTo(got[i]!, e));
    tf.dispose([logp, old, loss]);
  }
});

test('F14: KL estimators', async () => {
  const lp = tf.tensor2d([[-1.0, -2.0]]);
  const ref = tf.tensor2d([[-1.5, -1.0]]);
  const expect = { k1: [0.5, -1.0], k2: [0.125, 0.5], k3: [0.106531, 0.718282], abs: [0.5, 1.0] } as const;
  for (const [k, values] of Object.entries(expect)) {
    const got = await klPenalty(lp, ref, k as 'k1').data();
    values.forEach((v, i) => closeTo(got[i]!, v));
  }
});

test('F15: aggregation modes', async () => {
  const loss = tf.tensor2d([
    [1, 2, 0],
    [3, 4, 5],
  ]);
  const mask = tf.tensor2d([
    [1, 1, 0],
    [1, 1, 1],
  ]);
  const den = { tokens: 5, sequences: 2, maxLength: 4 };
  const expected = { 'token-mean': 3, 'seq-mean-token-mean': 2.75, 'seq-mean-token-sum': 7.5, 'seq-mean-token-sum-norm': 1.875 };
  for (const [mode, value] of Object.entries(expected)) {
    closeTo((await aggregateLoss(loss, mask, mode as 'token-mean', den).data())[0]!, value);
  }
});

test('F15: splitting a batch into micro-batches with global denominators sums to the whole', async () => {
  const den = { tokens: 5, sequences: 2, maxLength: 4 };
  for (const mode of ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum', 'seq-mean-token-sum-norm'] as const) {
    const whole = (await aggregateLoss(tf.tensor2d([[1, 2, 0], [3, 4, 5]]), tf.tensor2d([[1, 1, 0], [1, 1, 1]]), mode, den).data())[0]!;
    const a = (await aggregateLoss(tf.tensor2d([[1, 2, 9]]), tf.tensor2d([[1, 1, 0]]), mode, den).data())[0]!;
    const b = (await aggregateLoss(tf.tensor2d([[3, 4, 5, 7]]), tf.tensor2d([[1, 1, 1, 0]]), mode, den).data())[0]!;
    closeTo(a + b, whole);
  }
});

test('F18: end-to-end GRPO / DAPO losses', async () => {
  const adv = new GrpoAdvantageEstimator({ epsilon: 1e-6, std: 'unbiased' }).compute({
    rewards: Float64Array.from([1, 0]),
    groupIndex: Int32Array.from([0, 0]),
    mask: Float32Array.from([1, 1, 0, 1, 1, 1]),
    tokens: 3,
  });
  closeTo(adv[0]!, 0.707106);
  closeTo(adv[3]!, -0.707106);
  const input = {
    logprobs: tf.tensor2d([[-0.3, -1.1, 0], [-0.4, -0.6, -1.0]]),
    oldLogprobs: tf.tensor2d([[-0.5, -1.0, 0], [-0.2, -0.7, -1.5]]),
    referenceLogprobs: tf.tensor2d([[-0.6, -1.0, 0], [-0.2, -0.9, -1.2]]),
    advantages: tf.tensor2d(adv, [2, 3]),
    mask: tf.tensor2d([[1, 1, 0], [1, 1, 1]]),
    denominators: { tokens: 5, sequences: 2, maxLength: 3 },
  };
  const run = async (o: Partial<PpoClipOptions>) =>
    (await new PpoClipPolicyObjective(opts({ clipHigh: 0.28, dualClip: 3, ...o })).loss(input).loss.data())[0]!;
  closeTo(await run({ aggregation: 'token-mean' }), 0.204549);
  closeTo(await run({ aggregation: 'seq-mean-token-mean', klCoefficient: 0.01 }), 0.045418);
  closeTo(await run({ aggregation: 'token-mean', klCoefficient: 0.01 }), 0.204803);
  const { loss } = new PpoClipPolicyObjective(opts({ clipHigh: 0.28, dualClip: 3 })).tokenLoss(
    input.logprobs,
    input.oldLogprobs,
    input.advantages,
  );
  const values = await loss.data();
  [-0.863661, -0.639816].forEach((v, i) => closeTo(values[i]!, v));
  [0.578929, 0.781473, 1.16582].forEach((v, i) => closeTo(values[3 + i]!, v));
});

test('KL coefficient without reference logprobs is an error', () => {
  const obj = new PpoClipPolicyObjective(opts({ klCoefficient: 0.01 }));
  assert.equal(obj.needsReference, true);
  assert.throws(
    () =>
      obj.loss({
        logprobs: tf.zeros([1, 1]) as tf.Tensor2D,
        oldLogprobs: tf.zeros([1, 1]) as tf.Tensor2D,
        advantages: tf.zeros([1, 1]) as tf.Tensor2D,
        mask: tf.ones([1, 1]) as tf.Tensor2D,
        denominators: { tokens: 1, sequences: 1, maxLength: 1 },
      }),
    /reference-policy logprobs/,
  );
});

test('gradient flows only through unclipped tokens and none leaks', async () => {
  const before = tf.memory().numTensors;
  const obj = new PpoClipPolicyObjective(opts({}));
  const init = tf.tensor2d([[Math.log(1.5), Math.log(1.1)]]);
  const x = tf.variable(init);
  init.dispose();
  const g = tf.grad((lp: tf.Tensor) =>
    obj.loss({
      logprobs: lp as tf.Tensor2D,
      oldLogprobs: tf.zeros([1, 2]) as tf.Tensor2D,
      advantages: tf.tensor2d([[1, 1]]),
      mask: tf.ones([1, 2]) as tf.Tensor2D,
      denominators: { tokens: 2, sequences: 1, maxLength: 2 },
    }).loss,
  )(x);
  const gv = await g.data();
  closeTo(gv[0]!, 0); // r = 1.5 > 1.2 with A > 0: clipped, no gradient
  closeTo(gv[1]!, -1.1 / 2); // d(−A·r/2)/d log r = −r/2
  tf.dispose([g, x]);
  assert.equal(tf.memory().numTensors, before);
});
