import { test } from 'node:test';
import assert from 'node:assert/strict';
import { passAtK } from '../../src/index.js';

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

test('pass@k: unbiased estimator 1 − C(n−c, k)/C(n, k)', () => {
  close(passAtK(4, 1, 1), 0.25);
  close(passAtK(4, 1, 4), 1);
  close(passAtK(5, 2, 2), 1 - 3 / 10);
  close(passAtK(8, 0, 8), 0);
  close(passAtK(8, 8, 1), 1);
  close(passAtK(10, 3, 5), 1 - 21 / 252); // C(7,5)/C(10,5)
  // pass@1 is the fraction correct
  for (let c = 0; c <= 8; c++) close(passAtK(8, c, 1), c / 8);
});

test('pass@k: invalid arguments are refused', () => {
  assert.throws(() => passAtK(4, 1, 5), /1 ≤ k ≤ n/);
  assert.throws(() => passAtK(4, 5, 1), /0 ≤ c ≤ n/);
  assert.throws(() => passAtK(4, 1, 0), /1 ≤ k ≤ n/);
});
