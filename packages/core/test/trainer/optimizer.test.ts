import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { GradientAccumulator, createAdam, initBackend, microBatches, miniBatchDenominators, optimizerStep } from '../../src/index.js';

before(async () => {
  await initBackend('wasm');
});

const values = (v: tf.Tensor) => Array.from(v.dataSync());

function variables(seed: number): tf.Variable[] {
  return [tf.variable(tf.randomNormal([3, 4], 0, 1, 'float32', seed)), tf.variable(tf.randomNormal([4], 0, 1, 'float32', seed + 1))];
}

/** Loss share of rows `rows` of x `[6, 3]`, normalised by the whole batch's 6 rows. */
function share(vars: tf.Variable[], x: tf.Tensor2D, rows: number[]) {
  return () => {
    const sub = tf.gather(x, rows);
    const y = tf.tanh(tf.add(tf.matMul(sub, vars[0]!), vars[1]!));
    return { loss: tf.div(tf.sum(tf.square(y)), 6) as tf.Scalar, metrics: { rows: tf.scalar(rows.length / 6) } };
  };
}

test('GradientAccumulator: summed micro-batch shares equal the one-pass gradient, loss and metrics', async () => {
  const vars = variables(3);
  const x = tf.randomNormal([6, 3], 0, 1, 'float32', 9) as tf.Tensor2D;
  const one = new GradientAccumulator(vars);
  one.add(share(vars, x, [0, 1, 2, 3, 4, 5]));
  const split = new GradientAccumulator(vars);
  split.add(share(vars, x, [0, 1]));
  split.add(share(vars, x, [2, 3, 4]));
  split.add(share(vars, x, [5]));
  assert.equal(split.count, 3);
  const [a, b] = [await one.read(), await split.read()];
  assert.ok(Math.abs(a.loss - b.loss) < 1e-6);
  assert.ok(Math.abs(a.gradNorm - b.gradNorm) < 1e-6);
  assert.ok(Math.abs(b.metrics['rows']! - 1) < 1e-6);
  one.gradients().forEach((g, i) => {
    const d = Math.max(...values(tf.abs(tf.sub(g!, split.gradients()[i]!))));
    assert.ok(d < 1e-6, `variable ${i}: ${d}`);
  });
  const before = tf.memory().numTensors;
  one.dispose();
  split.dispose();
  assert.ok(tf.memory().numTensors < before);
  tf.dispose([x, ...vars]);
});

test('microBatches and miniBatchDenominators', () => {
  assert.deepEqual(microBatches([4, 1, 3, 0, 2], 0), [[4, 1, 3, 0, 2]]);
  assert.deepEqual(microBatches([4, 1, 3, 0, 2], 2), [[4, 1], [3, 0], [2]]);
  assert.deepEqual(microBatches([4, 1], 8), [[4, 1]]);
  // 3 rows × T 3: lengths 2, 0, 3.
  const mask = Float32Array.from([1, 1, 0, 0, 0, 0, 1, 1, 1]);
  assert.deepEqual(miniBatchDenominators(mask, 3, [0, 1, 2], 7), { tokens: 5, sequences: 2, maxLength: 7 });
  assert.deepEqual(miniBatchDenominators(mask, 3, [1], 7), { tokens: 0, sequences: 0, maxLength: 7 });
});

test('restored Adam continues bit-exactly (bias-correction powers rebuilt as training builds them)', async () => {
  const x = tf.randomNormal([6, 3], 0, 1, 'float32', 5) as tf.Tensor2D;
  const a = variables(11);
  const optA = createAdam(0.01, 0.9, 0.999);
  for (let i = 0; i < 5; i++) await optimizerStep(optA, a, share(a, x, [0, 1, 2, 3, 4, 5]), 0);
  // 5 updates: tfjs' own setWeights gives pow(0.999, 6), one bit off the product training reached.
  const saved = await optA.getWeights();
  const copies = await Promise.all(saved.map(async ({ name, tensor }) => ({ name, tensor: tf.tensor(await tensor.data(), tensor.shape, tensor.dtype) })));
  const b = a.map((v) => tf.variable(v.clone()));
  // Slots follow the variables' positions; names map to b's variables.
  const renamed = copies.map(({ name, tensor }) => {
    const k = a.findIndex((v) => name.startsWith(`${v.name}/`));
    return { name: k < 0 ? name : `${b[k]!.name}${name.slice(a[k]!.name.length)}`, tensor };
  });
  const optB = createAdam(0.01, 0.9, 0.999);
  await optB.setWeights(renamed);
  for (let i = 0; i < 5; i++) {
    await optimizerStep(optA, a, share(a, x, [0, 1, 2, 3, 4, 5]), 0);
    await optimizerStep(optB, b, share(b, x, [0, 1, 2, 3, 4, 5]), 0);
  }
  a.forEach((v, i) => assert.deepEqual(values(b[i]!), values(v), `variable ${i}`));
  optA.dispose();
  optB.dispose();
  tf.dispose([x, ...a, ...b, ...copies.map((c) => c.tensor)]);
});
