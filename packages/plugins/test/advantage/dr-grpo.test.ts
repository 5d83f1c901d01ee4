import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DrGrpoAdvantageEstimator, drGrpoAdvantage } from '../../src/advantage/dr-grpo.js';
import { close, input } from './fixtures.js';

test('F2: A = R − μ, no std division', () => {
  const a = new DrGrpoAdvantageEstimator().compute(input([1, 0, 1, 1]));
  close(a, [0.25, -0.75, 0.25, 0.25]);
});

test('zero-variance group gives zero advantages', () => {
  close(new DrGrpoAdvantageEstimator().compute(input([1, 1, 1, 1])), [0, 0, 0, 0]);
  close(new DrGrpoAdvantageEstimator().compute(input([0, 0, 0])), [0, 0, 0]);
});

test('groups are independent, broadcast over the mask, an empty row is all zero', () => {
  const a = new DrGrpoAdvantageEstimator().compute({
    rewards: Float64Array.from([1, 0, 0.5, 1]),
    groupIndex: Int32Array.from([0, 1, 0, 1]),
    // row 2 has no valid token (T_i = 0); its reward still counts in its group's mean
    mask: Float32Array.from([1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 0]),
    tokens: 3,
  });
  // group 0 = rows 0, 2: μ = 0.75 → [0.25, −0.25]; group 1 = rows 1, 3: μ = 0.5 → [−0.5, 0.5]
  close(a, [0.25, 0.25, 0, -0.5, -0.5, -0.5, 0, 0, 0, 0.5, 0, 0]);
});

test('a group of size 1 is a configuration error', () => {
  assert.throws(() => new DrGrpoAdvantageEstimator().compute(input([1, 0, 1], [0, 0, 1])), /at least 2 trajectories per group/);
});

test('mismatched mask length is an error', () => {
  assert.throws(
    () => new DrGrpoAdvantageEstimator().compute({ ...input([1, 0]), mask: new Float32Array(3) }),
    /mask has length 3/,
  );
});

test('the strategy has no options and builds the estimator', () => {
  assert.equal(drGrpoAdvantage.name, 'dr-grpo');
  assert.equal(drGrpoAdvantage.optionsSchema.additionalProperties, false);
  assert.deepEqual(Object.keys(drGrpoAdvantage.optionsSchema.properties), []);
});
