// Regression test for the TGRL collapse of seed 5 (docs/ablations.md, "The TGRL collapse"): in a group whose
// on-policy samples are all wrong and whose expert is right, the expert's reward sets μ and σ (TGRL Eqs. 15–16) and
// every on-policy sample gets a negative advantage, while the expert's push up is scaled by r̃ = ρ·w < 1 (Eqs. 21,
// 23). The group's net gradient therefore lowers the log-likelihood of what the student sampled, by (1 − r̃)·Ā_expert/G
// per update — the mechanism, measured in the runs, that drives the student away from its own answers.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@mmrl/core';
import { GrpoAdvantageEstimator } from '../../src/advantage/grpo.js';
import { PpoClipPolicyObjective } from '../../src/objectives/ppo-clip.js';

before(async () => {
  await initBackend('wasm');
});

const closeTo = (a: number, b: number, tol = 1e-5) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

/**
 * pg_loss and d loss/d ℓ of one group of 7 on-policy samples (reward 0) and 1 expert (reward 1), one token each
 * (length-1 trajectories), the expert's ratio overridden by r̃ = exp(ℓθ − ℓφ)·w.
 */
async function rescuedGroup(w: number, logExpertRatio: number) {
  const adv = new GrpoAdvantageEstimator({ epsilon: 1e-6, std: 'unbiased' }).compute({
    rewards: Float64Array.from([0, 0, 0, 0, 0, 0, 0, 1]),
    groupIndex: new Int32Array(8),
    mask: new Float32Array(8).fill(1),
    tokens: 1,
  });
  const objective = new PpoClipPolicyObjective({
    clipLow: 0.2,
    clipHigh: 0.2,
    dualClip: null,
    aggregation: 'seq-mean-token-mean',
    klCoefficient: 0,
    klEstimator: 'k3',
  });
  const old = tf.fill([8, 1], Math.log(0.5)) as tf.Tensor2D;
  const anchor = tf.fill([8, 1], Math.log(0.5) - logExpertRatio) as tf.Tensor2D; // ℓφ on the expert row
  const expertRow = tf.tensor2d([0, 0, 0, 0, 0, 0, 0, 1], [8, 1]);
  const advantages = tf.tensor2d(adv, [8, 1]);
  const mask = tf.ones([8, 1]) as tf.Tensor2D;
  const x = tf.variable(old.clone());
  let pgLoss = 0;
  const g = tf.grad((lp: tf.Tensor) => {
    const out = objective.loss({
      logprobs: lp as tf.Tensor2D,
      oldLogprobs: old,
      advantages,
      mask,
      denominators: { tokens: 8, sequences: 8, maxLength: 1 },
      ratioOverrides: [{ tokens: expertRow, ratio: tf.mul(tf.exp(tf.sub(lp, anchor)), w) as tf.Tensor2D, clip: true }],
    });
    pgLoss = out.metrics['pg_loss']!.dataSync()[0]!;
    return out.loss;
  })(x);
  const grad = Array.from(await g.data());
  tf.dispose([old, anchor, expertRow, advantages, mask, x, g]);
  return { adv: Array.from(adv), pgLoss, grad };
}

test('a rescued TGRL group pushes its on-policy samples down net: Σ ∂loss/∂ℓ = (1 − r̃)·Ā_expert/G', async () => {
  // μ = 1/8 = 0.125, σ_u = √(1/8 · 7/8 · 8/7) = 0.3535534; on-policy Ā = −0.125/(σ + 1e-6) = −0.3535524,
  // expert Ā = 0.875/(σ + 1e-6) = 2.4748668.
  // ρ = 0.8 (ℓθ − ℓφ = log 0.8), w = 0.5: r̃ = 0.4 < 1 − ε = 0.8 with Ā > 0 → the unclipped branch −Ā·r̃.
  const { adv, pgLoss, grad } = await rescuedGroup(0.5, Math.log(0.8));
  closeTo(adv[0]!, -0.3535524);
  closeTo(adv[7]!, 2.4748668);
  // pg_loss = (1/8)·(7·0.3535524 − 2.4748668·0.4) = (2.4748668 − 0.9899467)/8 = 0.1856150: positive, where plain
  // GRPO's is 0 (advantages sum to 0 in a group).
  closeTo(pgLoss, 0.185615);
  // ∂/∂ℓ_on = −Ā_on/8 = +0.0441941 each (descent lowers their likelihood); ∂/∂ℓ_expert = −Ā_exp·r̃/8 = −0.1237433.
  for (let i = 0; i < 7; i++) closeTo(grad[i]!, 0.0441941);
  closeTo(grad[7]!, -0.1237433);
  // Net over the group: (1 − 0.4)·2.4748668/8 = 0.1856150 > 0.
  closeTo(grad.reduce((a, b) => a + b, 0), 0.185615);
  // With r̃ = 1 (the expert weighted like an on-policy sample) the group is zero-sum again, as in GRPO.
  const neutral = await rescuedGroup(1, 0);
  closeTo(neutral.grad.reduce((a, b) => a + b, 0), 0);
  closeTo(neutral.pgLoss, 0);
});
