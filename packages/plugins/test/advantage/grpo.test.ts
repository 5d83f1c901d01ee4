import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GrpoAdvantageEstimator } from '../../src/advantage/grpo.js';
import { close, input } from './fixtures.js';

test('F1: unbiased std, ε = 1e-6', () => {
  const a = new GrpoAdvantageEstimator({ epsilon: 1e-6, std: 'unbiased' }).compute(input([1, 0, 1, 1]));
  close(a, [0.499999, -1.499997, 0.499999, 0.499999]);
});

test('F1: population std', () => {
  const a = new GrpoAdvantageEstimator({ epsilon: 1e-6, std: 'population' }).compute(input([1, 0, 1, 1]));
  close(a, [0.577349, -1.732047, 0.577349, 0.577349]);
});

test('F1: TRL ε = 1e-4', () => {
  const a = new GrpoAdvantageEstimator({ epsilon: 1e-4, std: 'unbiased' }).compute(input([1, 0, 1, 1]));
  close(a, [0.4999, -1.4997, 0.4999, 0.4999]);
});

test('F1: zero-variance group gives zero advantages, no NaN', () => {
  const a = new GrpoAdvantageEstimator({ epsilon: 1e-6, std: 'unbiased' }).compute(input([1, 1, 1, 1]));
  close(a, [0, 0, 0, 0]);
});

test('groups are independent and broadcast over the mask', () => {
  const est = new GrpoAdvantageEstimator({ epsilon: 1e-6, std: 'unbiased' });
  const a = est.compute({
    rewards: Float64Array.from([1, 0, 1, 1, 0, 0]),
    groupIndex: Int32Array.from([0, 1, 0, 0, 1, 1]),
    mask: Float32Array.from([1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0]),
    tokens: 2,
  });
  // group 0 = rows 0, 2, 3 (rewards 1, 1, 1) → 0; group 1 = rows 1, 4, 5 (rewards 0, 0, 0) → 0
  close(a, new Array(12).fill(0));
  const b = est.compute({
    rewards: Float64Array.from([1, 0, 0, 1]),
    groupIndex: Int32Array.from([0, 0, 1, 1]),
    mask: Float32Array.from([1, 1, 1, 0, 0, 0, 1, 1]),
    tokens: 2,
  });
  const s = 0.5 / (Math.SQRT1_2 + 1e-6);
  // row 2 has an empty mask (T_i = 0): all zero through the mask
  close(b, [s, s, -s, 0, 0, 0, s, s]);
});

test('a group of size 1 is a configuration error', () => {
  const est = new GrpoAdvantageEstimator({ epsilon: 1e-6, std: 'unbiased' });
  assert.throws(() => est.compute(input([1, 0, 1], [0, 0, 1])), /at least 2 trajectories per group/);
});
