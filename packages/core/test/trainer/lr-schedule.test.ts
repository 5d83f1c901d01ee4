import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scheduledLearningRate } from '../../src/trainer/lr-schedule.js';

const close = (a: number, b: number, msg?: string) => assert.ok(Math.abs(a - b) < 1e-12, `${msg ?? ''} ${a} vs ${b}`);

test('no schedule and constant: the peak at every step; constant warm-up ramps (step + 1) / warmupSteps', () => {
  for (const step of [0, 7, 9]) assert.equal(scheduledLearningRate(2e-4, step, 10, undefined), 2e-4);
  const lr = [0, 1, 2, 3, 4, 5].map((s) => scheduledLearningRate(1, s, 6, { name: 'constant', warmupSteps: 4 }));
  assert.deepEqual(lr, [0.25, 0.5, 0.75, 1, 1, 1]);
});

test('linear: from the peak at the first step after warm-up to minRatio × peak at the last step', () => {
  // 5 steps, no warm-up: p = 0, 1/4, 1/2, 3/4, 1; minRatio 0.2 → 1 − 0.8p.
  const lr = [0, 1, 2, 3, 4].map((s) => scheduledLearningRate(1, s, 5, { name: 'linear', minRatio: 0.2 }));
  [1, 0.8, 0.6, 0.4, 0.2].forEach((v, i) => close(lr[i]!, v, `step ${i}`));
  // Warm-up 2 of 6 steps: 0.5, 1, then p = 0, 1/3, 2/3, 1 with minRatio 0.
  const w = [0, 1, 2, 3, 4, 5].map((s) => scheduledLearningRate(3e-4, s, 6, { name: 'linear', warmupSteps: 2 }));
  [1.5e-4, 3e-4, 3e-4, 2e-4, 1e-4, 0].forEach((v, i) => close(w[i]!, v, `step ${i}`));
});

test('cosine: (1 + cos πp) / 2 between the peak and minRatio × peak', () => {
  // 3 steps: p = 0, 1/2, 1 → factors 1, 1/2, 0 (minRatio 0); with minRatio 0.1: 1, 0.55, 0.1.
  const a = [0, 1, 2].map((s) => scheduledLearningRate(2, s, 3, { name: 'cosine' }));
  [2, 1, 0].forEach((v, i) => close(a[i]!, v, `step ${i}`));
  const b = [0, 1, 2].map((s) => scheduledLearningRate(1, s, 3, { name: 'cosine', minRatio: 0.1 }));
  [1, 0.55, 0.1].forEach((v, i) => close(b[i]!, v, `step ${i}`));
  // 5 steps, p = 1/4: (1 + cos π/4) / 2 = 0.853553…
  close(scheduledLearningRate(1, 1, 5, { name: 'cosine' }), (1 + Math.SQRT1_2) / 2);
  // Monotone non-increasing after warm-up.
  const lr = Array.from({ length: 400 }, (_, s) => scheduledLearningRate(2e-4, s, 400, { name: 'cosine', warmupSteps: 20 }));
  for (let s = 21; s < 400; s++) assert.ok(lr[s]! <= lr[s - 1]!, `step ${s}`);
  close(lr[19]!, 2e-4);
  close(lr[399]!, 0);
});

test('edge cases: a one-step run takes the final rate; steps outside the run throw', () => {
  assert.equal(scheduledLearningRate(1, 0, 1, { name: 'cosine', minRatio: 0.3 }), 0.3);
  assert.equal(scheduledLearningRate(1, 0, 1, { name: 'linear' }), 0);
  assert.throws(() => scheduledLearningRate(1, 5, 5, { name: 'linear' }), /step 5 is outside \[0, 5\)/);
  assert.throws(() => scheduledLearningRate(1, -1, 5, { name: 'cosine' }), /outside/);
});
