import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@mmrl/core';
import { DeltaLogpTokenWeighter, deltaLogpStepMetrics } from '../../src/weighting/delta-logp.js';

before(async () => {
  await initBackend('wasm');
});

const p = [0.9, 0.5, 0.1, 0.01];
const input = (mask = [1, 1, 1, 1]) => ({
  advantages: tf.fill([1, 4], 0.8) as tf.Tensor2D,
  mask: tf.tensor2d([mask]),
  oldLogprobs: tf.tensor2d([p.map(Math.log)]),
  groupIndex: Int32Array.from([0]),
  forward: { logprobs: tf.tensor2d([p.map(Math.log)]) },
});
const close = (a: ArrayLike<number>, b: number[]) => b.forEach((v, i) => assert.ok(Math.abs(a[i]! - v) < 1e-5, `${i}: ${a[i]} vs ${v}`));

test('F10: c = 0.2 and c = 0.1 (reshape-reversed)', async () => {
  const x = input();
  const w2 = await (await new DeltaLogpTokenWeighter({ c: 0.2, variant: 'reshape-reversed' }).weights(x)).data();
  close(w2, [1.02, 1.1, 1.18, 1.198]);
  close(Array.from(w2, (w) => w * 0.8), [0.816, 0.88, 0.944, 0.9584]);
  const w1 = await (await new DeltaLogpTokenWeighter({ c: 0.1, variant: 'reshape-reversed' }).weights(x)).data();
  close(w1, [1.01, 1.05, 1.09, 1.099]);
  close(Array.from(w1, (w) => w * 0.8), [0.808, 0.84, 0.872, 0.8792]);
});

test('the other variants of the official code', async () => {
  const x = input();
  close(await (await new DeltaLogpTokenWeighter({ c: 0.2, variant: 'reshape' }).weights(x)).data(), p.map((q) => 0.2 * q + 0.8));
  close(await (await new DeltaLogpTokenWeighter({ c: 0.2, variant: 'normalize' }).weights(x)).data(), p.map((q) => 1 / (1.2 - q)));
  close(await (await new DeltaLogpTokenWeighter({ c: 0.2, variant: 'middle' }).weights(x)).data(), p.map((q) => 0.2 + q * (1 - q)));
});

test('padding gets weight 0; c = 0 is the identity; no tensors leak', async () => {
  const x = input([1, 1, 0, 0]);
  const before = tf.memory().numTensors;
  const w = await new DeltaLogpTokenWeighter({ c: 0.2, variant: 'reshape-reversed' }).weights(x);
  close(await w.data(), [1.02, 1.1, 0, 0]);
  w.dispose();
  assert.equal(tf.memory().numTensors, before);
  close(await (await new DeltaLogpTokenWeighter({ c: 0, variant: 'reshape-reversed' }).weights(input())).data(), [1, 1, 1, 1]);
});

test('off-policy rows: the multiplier applies to them too, computed from ℓold (not the behaviour logprobs)', async () => {
  // Row 0 on-policy, row 1 an expert trajectory (TGRL). ℓold is the student's old-policy forward of every row's tokens;
  // the expert's own ℓφ (behaviour logprobs) is ln 0.99 on both of its tokens.
  // c = 0.2: w = 1 + 0.2·(1 − p_old): row 0 p = [0.9, 0.5] → [1.02, 1.1]; row 1 p = [0.1, 0.5] → [1.18, 1.1].
  // From ℓφ it would have been 1 + 0.2·0.01 = 1.002 on row 1: not what the code does (docs/strategies/README.md,
  // "Multipliers on off-policy rows").
  const old = tf.tensor2d([[Math.log(0.9), Math.log(0.5)], [Math.log(0.1), Math.log(0.5)]]);
  const x = {
    advantages: tf.tensor2d([[1, 1], [1, 1]]),
    mask: tf.tensor2d([[1, 1], [1, 1]]),
    oldLogprobs: old,
    groupIndex: Int32Array.from([0, 0]),
    forward: { logprobs: old },
    rows: [
      { source: 'on' as const, reward: 0, accuracy: 0, length: 2 },
      { source: 'expert' as const, reward: 1, accuracy: 1, length: 2 },
    ],
    behaviourLogprobs: tf.tensor2d([[Math.log(0.9), Math.log(0.5)], [Math.log(0.99), Math.log(0.99)]]),
  };
  const weighter = new DeltaLogpTokenWeighter({ c: 0.2, variant: 'reshape-reversed' });
  const w = await weighter.weights(x);
  close(await w.data(), [1.02, 1.1, 1.18, 1.1]);
  // The source tags change nothing: the same batch tagged all on-policy gives the same weights.
  const allOn = await weighter.weights({ ...x, rows: x.rows.map((r) => ({ ...r, source: 'on' as const })) });
  assert.deepEqual(Array.from(await allOn.data()), Array.from(await w.data()));
  tf.dispose([w, allOn, x.advantages, x.mask, old, x.behaviourLogprobs]);
});

test('step metrics: what the re-weighting had to act on (F10 probabilities, padding excluded)', async () => {
  // F10, c = 0.2: p = [0.9, 0.5, 0.1, 0.01], w = [1.02, 1.1, 1.18, 1.198]. Over the 4 tokens: mean p = 1.51/4 = 0.3775;
  // p < 0.5 for 2 of 4 (0.5 itself is not below); mean w = 4.498/4 = 1.1245; population sd of w:
  // deviations −0.1045, −0.0245, 0.0555, 0.0735 → squares sum 0.01092025 + 0.00060025 + 0.00308025 + 0.00540225 = 0.020003,
  // /4 = 0.00500075, sd = 0.0707160; max 1.198.
  const weighter = new DeltaLogpTokenWeighter({ c: 0.2, variant: 'reshape-reversed' });
  assert.deepEqual(weighter.stepMetrics(), {});
  const x = input();
  (await weighter.weights(x)).dispose();
  const m = weighter.stepMetrics();
  const expected: Record<string, number> = {
    dlogp_prob_mean: 0.3775,
    dlogp_low_prob_fraction: 0.5,
    dlogp_weight_mean: 1.1245,
    dlogp_weight_sd: 0.070716,
    dlogp_weight_max: 1.198,
  };
  assert.deepEqual(Object.keys(m).sort(), Object.keys(expected).sort());
  for (const [k, v] of Object.entries(expected)) assert.ok(Math.abs(m[k]! - v) < 1e-5, `${k}: ${m[k]} vs ${v}`);
  // Padding is not counted: tokens 2 and 3 masked → p mean 0.7, none below 0.5, w mean 1.06, sd 0.04, max 1.1.
  const padded = deltaLogpStepMetrics([0.9, 0.5, 0.1, 0.01], [1.02, 1.1, 0, 0], [1, 1, 0, 0]);
  for (const [k, v] of Object.entries({ dlogp_prob_mean: 0.7, dlogp_low_prob_fraction: 0, dlogp_weight_mean: 1.06, dlogp_weight_sd: 0.04, dlogp_weight_max: 1.1 })) {
    assert.ok(Math.abs(padded[k]! - v) < 1e-9, `${k}: ${padded[k]} vs ${v}`);
  }
  // An empty mask: all zeros, no NaN.
  assert.ok(Object.values(deltaLogpStepMetrics([0.5], [0], [0])).every((v) => v === 0));
  tf.dispose([x.advantages, x.mask, x.oldLogprobs, x.forward.logprobs]);
});
