import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type WeighterInput } from '@mmrl/core';
import { IvrShapingTokenWeighter, policyShaping } from '../../src/weighting/ivr-shaping.js';
import { applyRatioOverrides } from '../../src/objectives/ratio-override.js';
import { GrpoAdvantageEstimator } from '../../src/advantage/grpo.js';
import { close, input as advInput } from '../advantage/fixtures.js';

before(async () => {
  await initBackend('wasm');
});

const p = [0.9, 0.5, 0.1, 0.01];

function rows(): WeighterInput {
  const lp = tf.tensor2d([[-0.5, -0.5, 0, 0], p.map(Math.log)]);
  return {
    advantages: tf.tensor2d([[1, 1, 0, 0], [1, 1, 1, 1]]),
    mask: tf.tensor2d([[1, 1, 0, 0], [1, 1, 1, 1]]),
    oldLogprobs: lp,
    groupIndex: Int32Array.from([0, 0]),
    forward: { logprobs: lp },
    rows: [
      { source: 'on', reward: 0, accuracy: 0, length: 2 },
      { source: 'rectified', reward: 1, accuracy: 1, length: 4 },
    ],
  };
}

test('F12: f(p) = p/(p + 0.1) and its gradient coefficient with respect to log p', async () => {
  close(p.map((x) => policyShaping(x, 0.1)), [0.9, 0.833333, 0.5, 0.090909]);
  const o = new IvrShapingTokenWeighter({ gamma: 0.1 }).weights(rows()).override!;
  assert.equal(o.clip, false);
  close(await o.tokens.data(), [0, 0, 0, 0, 1, 1, 1, 1]);
  const live = tf.tensor2d([[-0.5, -0.5, 0, 0], p.map(Math.log)]);
  close((await o.ratio(live, o.constants).data()).slice(4), [0.9, 0.833333, 0.5, 0.090909]);
  const g = tf.grad((lp: tf.Tensor) => tf.sum(o.ratio(lp as tf.Tensor2D, o.constants)))(live);
  close((await g.data()).slice(4), [0.09, 0.138889, 0.25, 0.082645]);
});

test('rectified tokens: surrogate r̃·A without clipping (no bound at 1 + ε), on-policy tokens keep the host loss', async () => {
  const o = new IvrShapingTokenWeighter({ gamma: 0.1 }).weights(rows()).override!;
  const live = tf.tensor2d([[-0.5, -0.5, 0, 0], p.map(Math.log)]);
  const host = tf.fill([2, 4], 7) as tf.Tensor2D;
  const adv = tf.tensor2d([[1, 1, 0, 0], [2, 2, 2, 2]]);
  const { loss } = applyRatioOverrides(host, tf.zeros([2, 4]), adv, [{ tokens: o.tokens, ratio: o.ratio(live, o.constants), clip: false }], 0.2, 0.2);
  close(await loss.data(), [7, 7, 7, 7, -1.8, -1.666667, -1, -0.181818]);
});

test('p → 0: f → 0 and the gradient → 0 (no explosion); no rectified row ⇒ no override', async () => {
  const o = new IvrShapingTokenWeighter({ gamma: 0.1 }).weights(rows()).override!;
  const live = tf.tensor2d([[-0.5, -0.5, 0, 0], [-50, -50, -50, -50]]);
  const g = tf.grad((lp: tf.Tensor) => tf.sum(o.ratio(lp as tf.Tensor2D, o.constants)))(live);
  for (const v of (await g.data()).slice(4)) assert.ok(Math.abs(v) < 1e-12);
  const x = rows();
  assert.deepEqual(new IvrShapingTokenWeighter({ gamma: 0.1 }).weights({ ...x, rows: x.rows!.map((r) => ({ ...r, source: 'on' as const })) }), {});
});

test('F17: λ = 0.1, τ = 0.9 → flagged {1, 2, 4, 6, 7}; two correct rectifications appended; joint-group advantages', () => {
  const accuracy = [1, 0, 0, 1, 0, 1, 0, 0];
  const format = [1, 1, 0, 1, 1, 1, 1, 0];
  const reward = accuracy.map((a, i) => 0.9 * a + 0.1 * format[i]!);
  close(reward, [1.0, 0.1, 0.0, 1.0, 0.1, 1.0, 0.1, 0.0]);
  const flagged = reward.flatMap((r, i) => (r < 0.9 ? [i] : []));
  assert.deepEqual(flagged, [1, 2, 4, 6, 7]);
  const joint = [...reward, 1.0, 1.0];
  const a = new GrpoAdvantageEstimator({ epsilon: 1e-6, std: 'unbiased' }).compute(advInput(joint));
  close(a, [0.946115, -0.865595, -1.066896, 0.946115, -0.865595, 0.946115, -0.865595, -1.066896, 0.946115, 0.946115]);
});
