// The fused attention kernels for webgpu (runtime/fused-attention.ts) on a real WebGPU device (a GPU, or Mesa's
// lavapipe on CPU-only machines such as CI): a tiny case against attention computed in double precision in JS, values
// and gradients against the same attention composed from tfjs ops on the same backend, dispatch counts, and
// multiHeadAttention on webgpu against the cpu backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClose, deterministicValues as values } from '../numeric.js';
import * as tf from '@tensorflow/tfjs';
import { ATTENTION_CONTEXT, ATTENTION_GRAD, ATTENTION_STATS, fusedAttention, hasFusedAttention } from '../../src/runtime/fused-attention.js';
import {
  attentionBias,
  composedAttention,
  multiHeadAttention,
  MASKED_SCORE,
  type AttentionWeights,
  type LayerKv,
} from '../../src/model/attention.js';
import { initBackend } from '../../src/runtime/backend.js';
import { countDispatches, programsRun, useWebGpu } from './webgpu-backend.js';

type Attend = typeof fusedAttention;

/**
 * Attention and its gradients in double precision, straight from the definitions: P = softmax_j(s), O = Σ_j P v,
 * and for the loss Σ dO ⊙ O the softmax Jacobian dS = P ⊙ (dP − Σ_j P dP).
 * @param q, k, v `[S, C, dh]` flat; `bias` `[rows, N, 1, S]` flat (rows = S or 1); `dO` `[S, C, dh]` flat.
 */
function referenceAttention(q: number[], k: number[], v: number[], bias: number[], dO: number[], s: number, c: number, dh: number, n: number) {
  const heads = c / n;
  const biasRows = bias.length / (n * s);
  const zeros = () => new Array<number>(s * c * dh).fill(0);
  const [out, dq, dk, dv] = [zeros(), zeros(), zeros(), zeros()];
  const at = (i: number, ch: number, t: number) => (i * c + ch) * dh + t;
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < s; i++) {
      const b = (j: number) => bias[((biasRows === 1 ? 0 : i) * n + Math.floor(ch / heads)) * s + j]!;
      const scores = Array.from({ length: s }, (_, j) => {
        let dot = 0;
        for (let t = 0; t < dh; t++) dot += q[at(i, ch, t)]! * k[at(j, ch, t)]!;
        return dot + b(j);
      });
      const max = Math.max(...scores);
      const e = scores.map((x) => Math.exp(x - max));
      const total = e.reduce((a, x) => a + x, 0);
      const p = e.map((x) => x / total);
      const dp = Array.from({ length: s }, (_, j) => {
        let x = 0;
        for (let t = 0; t < dh; t++) x += dO[at(i, ch, t)]! * v[at(j, ch, t)]!;
        return x;
      });
      const pdp = p.reduce((a, x, j) => a + x * dp[j]!, 0);
      for (let j = 0; j < s; j++) {
        const ds = p[j]! * (dp[j]! - pdp);
        for (let t = 0; t < dh; t++) {
          out[at(i, ch, t)]! += p[j]! * v[at(j, ch, t)]!;
          dq[at(i, ch, t)]! += ds * k[at(j, ch, t)]!;
          dk[at(j, ch, t)]! += ds * q[at(i, ch, t)]!;
          dv[at(j, ch, t)]! += p[j]! * dO[at(i, ch, t)]!;
        }
      }
    }
  }
  return { out, dq, dk, dv };
}

/** The context and d(Σ w ⊙ context)/d(q, k, v) of `attend`, read back. */
async function attentionAndGrads(attend: Attend, q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, bias: tf.Tensor4D, w: tf.Tensor) {
  const out = attend(q, k, v, bias);
  const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
    tf.sum(tf.mul(attend(a as tf.Tensor3D, b as tf.Tensor3D, c as tf.Tensor3D, bias), w)),
  )([q, k, v]);
  const read = await Promise.all([out, ...grads].map((t) => t.data()));
  tf.dispose([out, ...grads]);
  return { out: read[0]!, dq: read[1]!, dk: read[2]!, dv: read[3]! };
}

/** q (scaled by 1/√dh as the model does), k, v `[S, C, dh]` and an upstream gradient, from deterministic values. */
function inputs(s: number, c: number, dh: number, seed: number) {
  const size = s * c * dh;
  const q = tf.tensor3d(values(size, seed, 2 / Math.sqrt(dh)), [s, c, dh]);
  const k = tf.tensor3d(values(size, seed + 1, 2), [s, c, dh]);
  const v = tf.tensor3d(values(size, seed + 2), [s, c, dh]);
  const w = tf.tensor3d(values(size, seed + 3), [s, c, dh]);
  return { q, k, v, w };
}

test('fused attention on webgpu: a tiny case against attention in double precision (S = 3, N = 2, heads = 1, dh = 2)', async (t) => {
  if (!(await useWebGpu(t))) return;
  assert.ok(hasFusedAttention(), 'registered for webgpu by initBackend');
  const [s, n, c, dh] = [3, 2, 2, 2];
  const M = MASKED_SCORE;
  // Row n = 0: causal. Row n = 1: causal with key 0 padded, so query 0 of that row sees no key at all (it attends key
  // 0, the least masked: −1e9 against −2e9) and query 1 sees only key 1.
  const bias = [
    [0, M, M, M, 2 * M, 2 * M],
    [0, 0, M, M, 0, M],
    [0, 0, 0, M, 0, 0],
  ].flat();
  const q = [0.5, -1, 0.25, 0.75, -0.5, 1, 1, 0.5, 0.2, -0.3, 0.6, 0.1];
  const k = [1, 0, -0.5, 0.5, 0.3, -0.2, 0.8, 1, -1, 0.4, 0.1, 0.9];
  const v = [2, -1, 0.5, 1, -1, 0.5, 3, 0, 1, 1, -2, 0.25];
  const dO = [1, 0.5, -1, 2, 0.25, -0.5, 1, 1, -1, 0.5, 2, -0.75];
  const want = referenceAttention(q, k, v, bias, dO, s, c, dh, n);
  // By hand: query 0 of row 0 sees only key 0 (P = 1), so its context is v[0, 0, :] = [2, −1]; likewise query 1 of
  // row 1 sees only key 1, and query 0 of row 1 only key 0.
  assert.deepEqual(want.out.slice(0, 2), [2, -1]);
  const got = await attentionAndGrads(
    fusedAttention,
    tf.tensor3d(q, [s, c, dh]),
    tf.tensor3d(k, [s, c, dh]),
    tf.tensor3d(v, [s, c, dh]),
    tf.tensor4d(bias, [s, n, 1, s]),
    tf.tensor3d(dO, [s, c, dh]),
  );
  assertClose(got.out, want.out, 1e-5, 'out');
  assertClose(got.out.slice(0, 2), [2, -1], 1e-6, 'out, query 0 of row 0');
  assertClose(got.out.slice(6, 8), [3, 0], 1e-6, 'out, query 1 of row 1');
  for (const key of ['dq', 'dk', 'dv'] as const) assertClose(got[key], want[key], 1e-5, key);
});

test('fused attention on webgpu: values and gradients match the composed attention (padded causal, broadcast, S = 1, S = 33)', async (t) => {
  if (!(await useWebGpu(t))) return;
  const cases: { name: string; s: number; n: number; heads: number; dh: number; mask: number[]; causal: boolean }[] = [
    // Left padding: queries 0 and 1 of row 1 and query 0 of row 2 see only padded keys.
    { name: 'causal, padded keys', s: 7, n: 3, heads: 2, dh: 8, mask: [1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1], causal: true },
    { name: 'not causal, [1, N, 1, S]', s: 9, n: 2, heads: 3, dh: 4, mask: [...Array(9).fill(1), 0, 0, 0, ...Array(6).fill(1)], causal: false },
    { name: 'S = 1', s: 1, n: 2, heads: 2, dh: 8, mask: [1, 1], causal: true },
    // 33 · 2 = 66 threads: two workgroups of 64.
    { name: 'S = 33, dh = 16', s: 33, n: 2, heads: 1, dh: 16, mask: [...Array(33).fill(1), 0, 0, 0, ...Array(30).fill(1)], causal: true },
  ];
  for (const [index, { name, s, n, heads, dh, mask, causal }] of cases.entries()) {
    const c = n * heads;
    const { q, k, v, w } = inputs(s, c, dh, 10 * index + 1);
    const keyMask = tf.tensor2d(mask, [n, s]);
    const bias = attentionBias(keyMask, s, causal);
    assert.deepEqual(bias.shape, [causal && s > 1 ? s : 1, n, 1, s], `${name}: bias shape`);
    const fused = await attentionAndGrads(fusedAttention, q, k, v, bias, w);
    const composed = await attentionAndGrads(composedAttention, q, k, v, bias, w);
    for (const key of ['out', 'dq', 'dk', 'dv'] as const) {
      assert.ok(fused[key].every(Number.isFinite), `${name}: ${key} finite`);
      assertClose(fused[key], composed[key], key === 'out' ? 1e-5 : 1e-4, `${name}: ${key}`);
    }
    if (s > 1) assert.ok(fused.dk.some((x) => Math.abs(x) > 1e-3), `${name}: the keys get a gradient`);
    tf.dispose([q, k, v, w, keyMask, bias]);
  }
});

test('fused attention: errors for shapes that do not fit and on a backend without the kernels', async (t) => {
  if (!(await useWebGpu(t))) return;
  const q = tf.zeros([4, 6, 8]) as tf.Tensor3D;
  assert.throws(() => fusedAttention(q, q, q, tf.zeros([4, 4, 1, 4]) as tf.Tensor4D), /MmrlAttentionStats: bias must be \[4 or 1, N, 1, 4\] with N dividing C = 6/);
  assert.throws(() => fusedAttention(q, q, q, tf.zeros([2, 2, 1, 4]) as tf.Tensor4D), /bias must be/);
  assert.throws(() => fusedAttention(q, tf.zeros([4, 6, 4]) as tf.Tensor3D, q, tf.zeros([1, 2, 1, 4]) as tf.Tensor4D), /k has shape \[4,6,4\] but q has \[4,6,8\]/);
  assert.throws(() => fusedAttention(q, q, tf.zeros([4, 6, 8], 'int32') as tf.Tensor3D, tf.zeros([1, 2, 1, 4]) as tf.Tensor4D), /v must be float32/);
  await initBackend('cpu');
  assert.ok(!hasFusedAttention());
  assert.throws(() => fusedAttention(q, q, q, tf.zeros([1, 2, 1, 4]) as tf.Tensor4D), /MmrlAttentionStats is not registered for the "cpu" backend/);
});

test('fused attention on webgpu: 2 dispatches forward, 4 backward, against the composed attention', async (t) => {
  if (!(await useWebGpu(t))) return;
  const [s, n, heads, dh] = [8, 2, 2, 8];
  const { q, k, v, w } = inputs(s, n * heads, dh, 50);
  const keyMask = tf.ones([n, s]) as tf.Tensor2D;
  const bias = attentionBias(keyMask, s, true);
  const forward = (attend: Attend) => countDispatches(() => tf.dispose(attend(q, k, v, bias)));
  const withBackward = (attend: Attend) =>
    countDispatches(() => tf.dispose(tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(attend(a as tf.Tensor3D, b as tf.Tensor3D, c as tf.Tensor3D, bias), w)))([q, k, v])));
  const [fusedForward, composedForward] = [await forward(fusedAttention), await forward(composedAttention)];
  const [fusedBoth, composedBoth] = [await withBackward(fusedAttention), await withBackward(composedAttention)];
  // Nothing left behind: no tensor, and no buffer of the backend (D is an intermediate of the gradient kernel).
  const [tensors, dataIds] = [tf.memory().numTensors, tf.engine().backend.numDataIds()];
  await withBackward(fusedAttention);
  assert.deepEqual([tf.memory().numTensors, tf.engine().backend.numDataIds()], [tensors, dataIds], 'tensors and buffers after forward + backward');
  assert.equal(fusedForward, 2);
  const stats = tf.engine().runKernel(ATTENTION_STATS, { q, k, bias }) as tf.Tensor;
  const out = tf.engine().runKernel(ATTENTION_CONTEXT, { q, k, v, bias, stats }) as tf.Tensor;
  const backward = await countDispatches(() => tf.dispose(tf.engine().runKernel(ATTENTION_GRAD, { q, k, v, bias, stats, out, dy: w }) as unknown as tf.Tensor[]));
  assert.equal(backward, 4, 'D, dq, dk, dv');
  tf.dispose([stats, out]);
  // + the loss (mul, sum) and the start of its gradient (fill, mul by w): 4 dispatches around the attention.
  assert.ok(fusedBoth <= fusedForward + 4 + 4, `forward + backward: ${fusedBoth}`);
  assert.ok(composedForward >= 4 * fusedForward, `composed forward: ${composedForward} vs fused ${fusedForward}`);
  assert.ok(composedBoth >= 2 * fusedBoth, `composed forward + backward: ${composedBoth} vs fused ${fusedBoth}`);
  console.log(
    `dispatches (S ${s}, C ${n * heads}, dh ${dh}): fused forward ${fusedForward}, composed ${composedForward}; ` +
      `with backward fused ${fusedBoth}, composed ${composedBoth}`,
  );
  tf.dispose([q, k, v, w, keyMask, bias]);
});


/**
 * multiHeadAttention on the active backend, S = 5 positions, N = 3 rows (one left-padded), d = 8, 2 heads: the output,
 * the gradients of Σ u ⊙ out in x and all the weights, the emitted keys and values, and one cached decoding step.
 */
async function attentionOnActiveBackend() {
  const [s, n, d, heads] = [5, 3, 8, 2];
  const names = ['wq', 'bq', 'wk', 'bk', 'wv', 'bv', 'wo', 'bo'] as const;
  const w = Object.fromEntries(names.map((name, i) => [name, name.startsWith('w') ? tf.tensor2d(values(d * d, i + 1), [d, d]) : tf.tensor1d(values(d, i + 1))])) as unknown as AttentionWeights;
  const x = tf.tensor3d(values(s * n, 9, 1).flatMap((v, i) => values(d, i + 10, v)), [s, n, d]);
  const keyMask = tf.tensor2d([1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], [n, s]);
  const bias = attentionBias(keyMask, s, true);
  const upstream = tf.tensor3d(values(s * n * d, 11), [s, n, d]);
  const { out, kv } = multiHeadAttention(x, w, heads, bias, undefined, true);
  const loss = (xIn: tf.Tensor, ...ws: tf.Tensor[]) => {
    const weights = Object.fromEntries(names.map((name, i) => [name, ws[i]])) as unknown as AttentionWeights;
    return tf.sum(tf.mul(multiHeadAttention(xIn as tf.Tensor3D, weights, heads, bias).out, upstream));
  };
  const grads = tf.grads(loss)([x, ...names.map((name) => w[name])]);
  // A decoding step: the first 4 positions as the cache, position 5 as the query.
  const prefix = multiHeadAttention(x.slice([0, 0, 0], [s - 1, n, d]) as tf.Tensor3D, w, heads, attentionBias(keyMask.slice([0, 0], [n, s - 1]) as tf.Tensor2D, s - 1, true), undefined, true).kv as LayerKv;
  const step = multiHeadAttention(x.slice([s - 1, 0, 0], [1, n, d]) as tf.Tensor3D, w, heads, attentionBias(keyMask, 1, true), prefix, true);
  const read = async (ts: tf.Tensor[]) => Promise.all(ts.map(async (t) => (await t.data()) as Float32Array));
  const result = {
    out: (await read([out]))[0]!,
    grads: await read(grads),
    kv: await read([kv!.k, kv!.v]),
    step: await read([step.out, step.kv!.k, step.kv!.v]),
  };
  tf.dispose([x, keyMask, bias, upstream, out, kv!.k, kv!.v, ...grads, prefix.k, prefix.v, step.out, step.kv!.k, step.kv!.v, ...names.map((name) => w[name])]);
  return result;
}

test('multiHeadAttention on webgpu uses the fused attention and equals the cpu backend: out, gradients, KV cache', async (t) => {
  if (!(await useWebGpu(t))) return;
  const x = tf.tensor3d(values(2 * 1 * 4, 1), [2, 1, 4]);
  const w = tf.eye(4) as tf.Tensor2D;
  const b = tf.zeros([4]) as tf.Tensor1D;
  const keys = programsRun(() => tf.dispose(multiHeadAttention(x, { wq: w, bq: b, wk: w, bk: b, wv: w, bv: b, wo: w, bo: b }, 2, attentionBias(tf.ones([1, 2]), 2, true)).out));
  assert.ok(keys.some((k) => k.startsWith('mmrl_attention_context')), `programs run: ${keys.join(' ')}`);
  assert.ok(!keys.some((k) => k.startsWith('softmax')), `no composed softmax: ${keys.join(' ')}`);
  const gpu = await attentionOnActiveBackend();
  await initBackend('cpu');
  const cpu = await attentionOnActiveBackend();
  assertClose(gpu.out, cpu.out, 1e-4, 'out');
  for (const [i, name] of ['dx', 'dWq', 'dbq', 'dWk', 'dbk', 'dWv', 'dbv', 'dWo', 'dbo'].entries()) {
    assertClose(gpu.grads[i]!, cpu.grads[i]!, 1e-4, name);
  }
  assert.ok(gpu.grads[1]!.some((v) => Math.abs(v) > 1e-4), 'the query weights get a gradient');
  assertClose(gpu.kv[0]!, cpu.kv[0]!, 1e-4, 'emitted keys');
  assertClose(gpu.kv[1]!, cpu.kv[1]!, 1e-4, 'emitted values');
  for (const [i, name] of ['step out', 'step keys', 'step values'].entries()) assertClose(gpu.step[i]!, cpu.step[i]!, 1e-4, name);
  tf.dispose([x, w, b]);
});
