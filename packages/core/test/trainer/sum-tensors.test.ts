import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/runtime/backend.js';
import { sumTensors } from '../../src/trainer/optimizer.js';

before(async () => {
  await initBackend('wasm');
});

test('sumTensors equals one addN for 1…80 inputs, never binds more than fanIn inputs per addN, frees its intermediates', async () => {
  const original = tf.addN;
  let widest = 0;
  const spy = ((xs: tf.Tensor[]) => {
    widest = Math.max(widest, xs.length);
    return original(xs);
  }) as typeof tf.addN;
  for (const n of [1, 2, 3, 4, 5, 9, 17, 74, 80]) {
    const xs = Array.from({ length: n }, (_, i) => tf.tensor1d([i, 2 * i + 1]));
    const before = tf.memory().numTensors;
    const sum = tf.tidy(() => sumTensors(xs, 4, spy));
    assert.equal(tf.memory().numTensors, before + (n === 1 ? 0 : 1)); // one input: returned as is
    assert.deepEqual(Array.from(await sum.data()), Array.from(await original(xs).data()));
    tf.dispose([sum, ...xs]);
  }
  assert.equal(widest, 4);
  assert.throws(() => sumTensors([]), /empty list/);
});
