import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RlooAdvantageEstimator, rlooAdvantage } from '../../src/advantage/rloo.js';
import { close, input } from './fixtures.js';

test('F3: leave-one-out baseline', () => {
  const a = new RlooAdvantageEstimator().compute(input([1, 0, 1, 1]));
  close(a, [0.333333, -1, 0.333333, 0.333333]);
});

test('closed form equals the explicit leave-one-out mean', () => {
  const rewards = [0.2, 0.9, 0.4, 0.0, 0.7];
  const a = new RlooAdvantageEstimator().compute(input(rewards));
  const total = rewards.reduce((x, y) => x + y, 0);
  close(a, rewards.map((r) => r - (total - r) / (rewards.length - 1)));
});

test('G = 2: A = ±(R_1 − R_2)', () => {
  close(new RlooAdvantageEstimator().compute(input([1, 0])), [1, -1]);
});

test('zero-variance group gives zero advantages', () => {
  close(new RlooAdvantageEstimator().compute(input([1, 1, 1, 1])), [0, 0, 0, 0]);
});

test('groups are independent, broadcast over the mask, an empty row is all zero', () => {
  const a = new RlooAdvantageEstimator().compute({
    rewards: Float64Array.from([1, 0, 0, 1, 1]),
    groupIndex: Int32Array.from([0, 1, 0, 1, 0]),
    // row 4 has no valid token; its reward still counts in the others' leave-one-out means
    mask: Float32Array.from([1, 1, 1, 0, 1, 0, 1, 1, 0, 0]),
    tokens: 2,
  });
  // group 0 = rows 0, 2, 4 rewards [1, 0, 1] → [0.5, −1, 0.5]; group 1 = rows 1, 3 rewards [0, 1] → [−1, 1]
  close(a, [0.5, 0.5, -1, 0, -1, 0, 1, 1, 0, 0]);
});

test('a group of size 1 is a configuration error', () => {
  assert.throws(() => new RlooAdvantageEstimator().compute(input([1, 0, 1], [0, 0, 1])), /RLOO needs at least 2 trajectories per group/);
});

test('the strategy has no options', () => {
  assert.equal(rlooAdvantage.name, 'rloo');
  assert.equal(rlooAdvantage.optionsSchema.additionalProperties, false);
  assert.deepEqual(Object.keys(rlooAdvantage.optionsSchema.properties), []);
});
