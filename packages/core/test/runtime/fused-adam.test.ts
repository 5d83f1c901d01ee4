// The fused Adam kernel for webgpu (runtime/fused-adam.ts) on a real WebGPU device: Dawn over the GPU's Vulkan
// driver, or over Mesa's lavapipe on CPU-only machines such as CI. Values are checked against Adam computed by hand
// (Kingma & Ba 2015, Algorithm 1) and against tfjs' own AdamOptimizer on the same backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClose, deterministicValues as values } from '../numeric.js';
import * as tf from '@tensorflow/tfjs';
import { FUSED_ADAM, hasFusedAdam } from '../../src/runtime/fused-adam.js';
import { ResumableAdamOptimizer } from '../../src/trainer/optimizer.js';
import { countDispatches, useWebGpu } from './webgpu-backend.js';

/** Adam by hand in double precision: the reference for `steps` updates with the given gradients. */
function adamByHand(
  theta0: number[],
  grads: number[][],
  { lr, beta1, beta2, epsilon, scale }: { lr: number; beta1: number; beta2: number; epsilon: number; scale: number },
): number[] {
  const theta = [...theta0];
  const m = theta.map(() => 0);
  const v = theta.map(() => 0);
  grads.forEach((g, step) => {
    const t = step + 1;
    for (let i = 0; i < theta.length; i++) {
      const gi = g[i]! * scale;
      m[i] = beta1 * m[i]! + (1 - beta1) * gi;
      v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi;
      const mHat = m[i]! / (1 - beta1 ** t);
      const vHat = v[i]! / (1 - beta2 ** t);
      theta[i] = theta[i]! - (lr * mHat) / (Math.sqrt(vHat) + epsilon);
    }
  });
  return theta;
}



test('fused Adam on webgpu: matches Adam by hand over 3 steps, with clipping scale, sizes 1, 15 and 1000', async (t) => {
  if (!(await useWebGpu(t))) return;
  assert.ok(hasFusedAdam(), `${FUSED_ADAM} registered for webgpu by initBackend`);
  const hp = { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, scale: 0.5 };
  const shapes: number[][] = [[1], [3, 5], [1000]]; // 1000: not a multiple of the workgroup size (64)
  const vars = shapes.map((s, k) => tf.variable(tf.tensor(values(s.reduce((a, b) => a * b, 1), k + 1), s), true, `fused-adam-${k}`));
  const theta0 = await Promise.all(vars.map(async (v) => Array.from(await v.data())));
  const optimizer = new ResumableAdamOptimizer(hp.lr, hp.beta1, hp.beta2, hp.epsilon);
  const grads: number[][][] = vars.map(() => []);
  for (let step = 0; step < 3; step++) {
    const named = vars.map((v, k) => {
      const g = values(v.size, 10 * step + k + 7);
      grads[k]!.push(g);
      return { name: v.name, tensor: tf.tensor(g, v.shape) };
    });
    optimizer.applyScaledGradients(named, hp.scale);
    tf.dispose(named.map((n) => n.tensor));
  }
  assert.equal(optimizer.iterations, 3);
  for (const [k, v] of vars.entries()) {
    assertClose(await v.data(), adamByHand(theta0[k]!, grads[k]!, hp), 2e-5, `param ${k}`);
  }
  // The slots keep tfjs' names and layout (checkpoints are interchangeable with the unfused path).
  const weights = await optimizer.getWeights();
  assert.deepEqual(
    weights.map((w) => w.name),
    ['iter', ...vars.map((v) => `${v.name}/m`), ...vars.map((v) => `${v.name}/v`)],
  );
  optimizer.dispose();
  tf.dispose(vars);
});

test('fused Adam on webgpu: same updates as tfjs AdamOptimizer on the same backend; 3 dispatches per variable', async (t) => {
  if (!(await useWebGpu(t))) return;
  const make = (tag: string) => [
    tf.variable(tf.tensor(values(40, 1), [8, 5]), true, `${tag}-w`),
    tf.variable(tf.tensor(values(5, 2), [5]), true, `${tag}-b`),
    tf.variable(tf.tensor(values(6, 3), [6]), true, `${tag}-unused`),
  ];
  const fusedVars = make('fused');
  const plainVars = make('plain');
  const fused = new ResumableAdamOptimizer(0.001, 0.9, 0.999);
  const plain = new ResumableAdamOptimizer(0.001, 0.9, 0.999, undefined, false);
  let fusedDispatches = 0;
  let plainDispatches = 0;
  for (let step = 0; step < 5; step++) {
    const gradsFor = (vars: tf.Variable[]) =>
      vars.map((v, k) => ({ name: v.name, tensor: k === 2 ? null : tf.tensor(values(v.size, 3 * step + k + 11), v.shape) }));
    const gf = gradsFor(fusedVars);
    const gp = gradsFor(plainVars);
    fusedDispatches += await countDispatches(() => fused.applyScaledGradients(gf, 0.8));
    plainDispatches += await countDispatches(() => plain.applyScaledGradients(gp, 0.8));
    tf.dispose([...gf, ...gp].map((g) => g.tensor).filter((x): x is tf.Tensor => x !== null));
  }
  for (let k = 0; k < 3; k++) assertClose(await fusedVars[k]!.data(), await plainVars[k]!.data(), 1e-6, `variable ${k}`);
  const [fw, pw] = [await fused.getWeights(), await plain.getWeights()];
  for (let k = 1; k < fw.length; k++) assertClose(await fw[k]!.tensor.data(), await pw[k]!.tensor.data(), 1e-6, fw[k]!.name);
  assert.deepEqual(Array.from(await fusedVars[2]!.data()), Array.from(await plainVars[2]!.data()), 'a variable without gradient is left alone');
  // 2 variables with gradients × 5 steps × 3 programs, plus the zero fills of the 3 × 2 moment slots at the first
  // step; tfjs' Adam needs several times more.
  assert.equal(fusedDispatches, 2 * 5 * 3 + 3 * 2);
  assert.ok(plainDispatches >= 3 * fusedDispatches, `tfjs Adam: ${plainDispatches} dispatches vs fused ${fusedDispatches}`);
  console.log(`dispatches for 5 updates of 2 variables: fused ${fusedDispatches}, tfjs Adam ${plainDispatches}`);
  fused.dispose();
  plain.dispose();
  tf.dispose([...fusedVars, ...plainVars]);
});
