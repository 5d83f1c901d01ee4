// The fused attention of a KV-cached decoding step for webgpu (runtime/fused-decode-attention.ts) on a real WebGPU
// device (a GPU, or Mesa's lavapipe on CPU-only machines such as CI): a tiny case against attention computed in double
// precision in JS, values against the composed decoding step on the same backend (padded and fully masked rows,
// Lk = 1, channels and keys past one workgroup), dispatch counts of a decoding step of multiHeadAttention with and
// without the kernel, and the KV-cached decoding of a small VlmModel on webgpu against the cpu backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClose, deterministicValues as values } from '../numeric.js';
import * as tf from '@tensorflow/tfjs';
import {
  DECODE_ATTENTION,
  fusedDecodeAttention,
  hasFusedDecodeAttention,
  registerFusedDecodeAttentionWebGpu,
} from '../../src/runtime/fused-decode-attention.js';
import {
  attentionBias,
  composedDecodeAttention,
  multiHeadAttention,
  MASKED_SCORE,
  type AttentionWeights,
  type LayerKv,
} from '../../src/model/attention.js';
import { initBackend } from '../../src/runtime/backend.js';
import { VlmModel } from '../../src/model/vlm-model.js';
import { generateWithCache } from '../../src/model/generate.js';
import { disposeBatch } from '../../src/rollout/batch.js';
import { countDispatches, programsRun, useWebGpu } from './webgpu-backend.js';
import { TINY, collate, randomRows } from '../model/fixtures.js';

/**
 * The decoding attention in double precision, straight from the definition: O[c,:] = Σ_j softmax_j(s[j,c]) v[:,j,c].
 * The score is rounded to float32 as the kernels hold it (`Math.fround`): a masked score −1e9 + dot then rounds to
 * −1e9 (float32 steps by 64 there) whatever the dot, as on the GPU; in double precision the dots would still decide
 * the softmax of a row whose keys are all masked.
 * @param q `[N, heads, dh]` flat; `k` `[Lk, N, heads, dh]` flat; `v` `[dh, Lk, N, heads]` flat; `bias` `[1, N, 1, Lk]` flat.
 */
function referenceDecode(q: number[], k: number[], v: number[], bias: number[], n: number, heads: number, dh: number, lk: number): number[] {
  const c = n * heads;
  const out = new Array<number>(c * dh).fill(0);
  for (let ch = 0; ch < c; ch++) {
    const scores = Array.from({ length: lk }, (_, j) => {
      let dot = 0;
      for (let t = 0; t < dh; t++) dot += q[ch * dh + t]! * k[(j * c + ch) * dh + t]!;
      return Math.fround(dot + bias[Math.floor(ch / heads) * lk + j]!);
    });
    const max = Math.max(...scores);
    const e = scores.map((x) => Math.exp(x - max));
    const total = e.reduce((a, x) => a + x, 0);
    for (let j = 0; j < lk; j++) {
      for (let t = 0; t < dh; t++) out[ch * dh + t]! += (e[j]! / total) * v[(t * lk + j) * c + ch]!;
    }
  }
  return out;
}

/** q (scaled by 1/√dh as the model does) `[N, heads, dh]`, keys `[Lk, N, heads, dh]`, values `[dh, Lk, N, heads]`. */
function inputs(n: number, heads: number, dh: number, lk: number, seed: number) {
  const c = n * heads;
  const q = tf.tensor3d(values(c * dh, seed, 2 / Math.sqrt(dh)), [n, heads, dh]);
  const k = tf.tensor4d(values(lk * c * dh, seed + 1, 2), [lk, n, heads, dh]);
  const v = tf.tensor4d(values(dh * lk * c, seed + 2), [dh, lk, n, heads]);
  return { q, k, v };
}


/** Runs `fn` with the decoding kernel unregistered from webgpu (the composed path), registering it again after. */
async function withoutFusedDecode<T>(fn: () => Promise<T>): Promise<T> {
  tf.unregisterKernel(DECODE_ATTENTION, 'webgpu');
  try {
    assert.ok(!hasFusedDecodeAttention());
    return await fn();
  } finally {
    registerFusedDecodeAttentionWebGpu();
  }
}

test('fused decode attention on webgpu: a tiny case against attention in double precision (N = 3, heads = 1, dh = 2, Lk = 3)', async (t) => {
  if (!(await useWebGpu(t))) return;
  assert.ok(hasFusedDecodeAttention(), 'registered for webgpu by initBackend');
  const [n, heads, dh, lk] = [3, 1, 2, 3];
  const M = MASKED_SCORE;
  // Row 0 sees all keys; row 1 only key 2 (keys 0 and 1 padded); row 2 no key at all.
  const bias = [0, 0, 0, M, M, 0, M, M, M];
  const q = [0.5, -1, 0.25, 0.75, 1.5, -0.5];
  const k = [1, 0, -0.5, 0.5, 0.3, -0.2, 0.8, 1, -1, 0.4, 0.1, 0.9, -0.6, 0.2, 0.7, 0.3, 2, -1];
  // v[t, j, n], one line per (t, j): the values of rows 0, 1, 2 at key j.
  const v = [
    [2, -1, 0.5], [1, -1, 0.5], [3, 0, 1], // t = 0, keys 0, 1, 2
    [1, 0.5, -2], [0.25, 4, 1.5], [-0.5, 2, 1], // t = 1
  ].flat();
  const want = referenceDecode(q, k, v, bias, n, heads, dh, lk);
  // By hand: row 1 attends key 2 only, so its context is its values at key 2: (0, 2). Row 2 sees no key: every
  // score rounds to −1e9, so it averages its values over the keys: ((0.5 + 0.5 + 1) / 3, (−2 + 1.5 + 1) / 3).
  assert.deepEqual(want.slice(2, 4), [0, 2]);
  assertClose(want.slice(4, 6), [2 / 3, 0.5 / 3], 1e-12, 'reference, masked row');
  // Row 0: q = (0.5, −1), keys (1, 0), (0.8, 1), (−0.6, 0.2): scores 0.5, −0.6, −0.5, all visible.
  const e = [0.5, -0.6, -0.5].map(Math.exp);
  const sum = e[0]! + e[1]! + e[2]!;
  const row0 = [(2 * e[0]! + 1 * e[1]! + 3 * e[2]!) / sum, (1 * e[0]! + 0.25 * e[1]! - 0.5 * e[2]!) / sum];
  assertClose(want.slice(0, 2), row0, 1e-7, 'reference, row 0 by hand');
  const got = fusedDecodeAttention(
    tf.tensor3d(q, [n, heads, dh]),
    tf.tensor4d(k, [lk, n, heads, dh]),
    tf.tensor4d(v, [dh, lk, n, heads]),
    tf.tensor4d(bias, [1, n, 1, lk]),
  );
  assert.deepEqual(got.shape, [n, heads, dh]);
  const out = (await got.data()) as Float32Array;
  assertClose(out, want, 1e-6, 'out');
  assertClose(out.slice(2, 4), [0, 2], 1e-6, 'out, row 1');
  assertClose(out.slice(4, 6), [2 / 3, 0.5 / 3], 1e-6, 'out, masked row');
});

test('fused decode attention on webgpu: equals the composed decoding step (padded keys, a fully masked row, Lk = 1, past one workgroup)', async (t) => {
  if (!(await useWebGpu(t))) return;
  const cases: { name: string; n: number; heads: number; dh: number; mask: (row: number, j: number) => number; lk: number }[] = [
    // Row 1 left-padded by 2, row 2 with every key masked (attentionBias never builds one, the kernel must cope).
    { name: 'padded keys, a fully masked row', n: 3, heads: 2, dh: 8, lk: 6, mask: (row, j) => (row === 2 || (row === 1 && j < 2) ? 0 : 1) },
    { name: 'Lk = 1', n: 2, heads: 2, dh: 4, lk: 1, mask: () => 1 },
    { name: 'Lk = 1, masked', n: 2, heads: 2, dh: 4, lk: 1, mask: (row) => row },
    // 33 · 2 = 66 channels: two workgroups of 64 threads; 70 keys, row 0 padded by 40.
    { name: 'C = 66, Lk = 70', n: 33, heads: 2, dh: 16, lk: 70, mask: (row, j) => (row === 0 && j < 40 ? 0 : 1) },
  ];
  for (const [index, { name, n, heads, dh, lk, mask }] of cases.entries()) {
    const { q, k, v } = inputs(n, heads, dh, lk, 10 * index + 1);
    const keyMask = tf.tensor2d(Array.from({ length: n * lk }, (_, i) => mask(Math.floor(i / lk), i % lk)), [n, lk]);
    const bias = attentionBias(keyMask, 1, true);
    assert.deepEqual(bias.shape, [1, n, 1, lk], `${name}: bias shape`);
    const before = tf.memory().numTensors;
    const fusedOut = fusedDecodeAttention(q, k, v, bias);
    assert.equal(tf.memory().numTensors, before + 1, `${name}: only the output is created`);
    const composedOut = tf.tidy(() => composedDecodeAttention(q, k, v, bias));
    const [fused, composed] = (await Promise.all([fusedOut.data(), composedOut.data()])) as Float32Array[];
    assert.ok(fused!.every(Number.isFinite), `${name}: finite`);
    assertClose(fused!, composed!, 1e-5, name);
    const [qs, ks, vs, bs] = await Promise.all([q, k, v, bias].map(async (x) => Array.from(await x.data())));
    assertClose(fused!, referenceDecode(qs!, ks!, vs!, bs!, n, heads, dh, lk), 1e-5, `${name}: against double precision`);
    tf.dispose([q, k, v, keyMask, bias, fusedOut, composedOut]);
  }
});

test('fused decode attention: errors for shapes that do not fit, forward only, and on a backend without the kernel', async (t) => {
  if (!(await useWebGpu(t))) return;
  const [n, heads, dh, lk] = [2, 3, 4, 5];
  const { q, k, v } = inputs(n, heads, dh, lk, 40);
  const bias = tf.zeros([1, n, 1, lk]) as tf.Tensor4D;
  assert.throws(() => fusedDecodeAttention(q.reshape([n * heads, dh, 1]) as tf.Tensor3D, k, v, bias), /MmrlDecodeAttention: k must be \[Lk, 6, 4, 1\]/);
  assert.throws(() => fusedDecodeAttention(q, k, k, bias), /MmrlDecodeAttention: v must be \[4,5,2,3\] for k \[5,2,3,4\], got \[5,2,3,4\]/);
  assert.throws(() => fusedDecodeAttention(q, k, v, tf.zeros([2, n, 1, lk]) as tf.Tensor4D), /bias must be \[1,2,1,5\]/);
  assert.throws(() => fusedDecodeAttention(q, k, v.toInt() as tf.Tensor4D, bias), /v must be float32, got int32/);
  assert.throws(() => fusedDecodeAttention(tf.zeros([0, heads, dh]) as tf.Tensor3D, k, v, bias), /q must be \[N, heads, dHead\] with no empty axis/);
  // No gradient is registered: decoding runs without a tape.
  assert.throws(() => tf.grad((x: tf.Tensor) => tf.sum(fusedDecodeAttention(x as tf.Tensor3D, k, v, bias)))(q), /gradient function not found for MmrlDecodeAttention/);
  await initBackend('cpu');
  assert.ok(!hasFusedDecodeAttention());
  assert.throws(() => fusedDecodeAttention(q, k, v, bias), /MmrlDecodeAttention is not registered for the "cpu" backend/);
});

/** Attention weights `[d, d]` and biases `[d]` from deterministic values. */
function weights(d: number): AttentionWeights {
  const names = ['wq', 'bq', 'wk', 'bk', 'wv', 'bv', 'wo', 'bo'] as const;
  return Object.fromEntries(
    names.map((name, i) => [name, name.startsWith('w') ? tf.tensor2d(values(d * d, i + 1, 0.5), [d, d]) : tf.tensor1d(values(d, i + 1, 0.1))]),
  ) as unknown as AttentionWeights;
}

test('multiHeadAttention decoding step on webgpu: 1 dispatch for the attention, the same output and cache as the composed step', async (t) => {
  if (!(await useWebGpu(t))) return;
  // 4 rows (row 1 left-padded by 3), d = 16, 2 heads, a cache of 6 positions + the new one.
  const [n, d, heads, past] = [4, 16, 2, 6];
  const dh = d / heads;
  const w = weights(d);
  const x = tf.tensor3d(values(n * d, 60), [1, n, d]);
  const cache: LayerKv = {
    k: tf.tensor4d(values(past * n * d, 61, 2), [past, n, heads, dh]),
    v: tf.tensor4d(values(dh * past * n * heads, 62), [dh, past, n, heads]),
  };
  const keyMask = tf.tensor2d(Array.from({ length: n * (past + 1) }, (_, i) => (Math.floor(i / (past + 1)) === 1 && i % (past + 1) < 3 ? 0 : 1)), [n, past + 1]);
  const bias = attentionBias(keyMask, 1, true);
  const step = () => multiHeadAttention(x, w, heads, bias, cache, true);
  const run = async () => {
    const dispatches = await countDispatches(() => tf.tidy(() => void step()));
    let r!: ReturnType<typeof step>;
    const keys = programsRun(() => {
      r = tf.tidy(step);
    });
    const read = (await Promise.all([r.out, r.kv!.k, r.kv!.v].map((y) => y.data()))) as Float32Array[];
    assert.deepEqual([r.kv!.k.shape, r.kv!.v.shape], [[past + 1, n, heads, dh], [dh, past + 1, n, heads]], 'cache layouts');
    tf.dispose([r.out, r.kv!.k, r.kv!.v]);
    return { dispatches, keys, out: read[0]!, k: read[1]!, v: read[2]! };
  };
  // The attention alone, on inputs of the step's sizes.
  const attention = inputs(n, heads, dh, past + 1, 64);
  const attentionOnly = () =>
    countDispatches(() => tf.tidy(() => void (hasFusedDecodeAttention() ? fusedDecodeAttention : composedDecodeAttention)(attention.q, attention.k, attention.v, bias)));
  const [tensors, dataIds] = [tf.memory().numTensors, tf.engine().backend.numDataIds()];
  const fused = await run();
  assert.deepEqual([tf.memory().numTensors, tf.engine().backend.numDataIds()], [tensors, dataIds], 'no tensor or buffer left behind');
  const fusedAttention = await attentionOnly();
  const composed = await withoutFusedDecode(async () => ({ ...(await run()), attention: await attentionOnly() }));
  assert.ok(fused.keys.some((key) => key.startsWith('mmrl_decode_attention')), `programs run: ${fused.keys.join(' ')}`);
  assert.ok(!fused.keys.some((key) => key.startsWith('softmax')), `no composed softmax: ${fused.keys.join(' ')}`);
  assert.ok(composed.keys.some((key) => key.startsWith('softmax')) && !composed.keys.some((key) => key.startsWith('mmrl_decode')), `composed: ${composed.keys.join(' ')}`);
  assertClose(fused.out, composed.out, 1e-5, 'out');
  assert.deepEqual(fused.k, composed.k, 'emitted keys');
  assert.deepEqual(fused.v, composed.v, 'emitted values');
  assert.equal(fusedAttention, 1, 'the fused attention: one dispatch');
  assert.equal(fused.dispatches, composed.dispatches - composed.attention + 1, 'the rest of the step is unchanged');
  assert.ok(composed.attention >= 8, `composed attention: ${composed.attention} dispatches`);
  console.log(
    `dispatches of one decoding step (N ${n}, d ${d}, heads ${heads}, Lk ${past + 1}): multiHeadAttention fused ${fused.dispatches}, ` +
      `composed ${composed.dispatches}; the attention alone fused ${fusedAttention}, composed ${composed.attention}; ` +
      `programs (fused): ${fused.keys.join(' ')}; (composed): ${composed.keys.join(' ')}`,
  );
  tf.dispose([x, cache.k, cache.v, keyMask, bias, ...Object.values(attention), ...Object.values(w)]);
});

/**
 * On the active backend, a small VlmModel (TINY: 2 layers, d = 16, 2 heads): prefill of 3 left-padded prompts and 5
 * cached steps with given tokens, the logits of each; and `generateWithCache` (2 prompts × 2 samples, 6 tokens), its
 * tokens and logprobs.
 */
async function decodeOnActiveBackend(onStep?: (fn: () => void) => void) {
  const model = new VlmModel(TINY, { seed: 31 });
  const rows = randomRows(31, 3, [2, 5, 3], 6);
  const batch = collate(rows);
  const logits: Float32Array[] = [];
  let { logits: l, cache } = model.prefill(batch.images, batch.promptTokens, batch.promptMask);
  for (let step = 0; ; step++) {
    logits.push((await l.data()) as Float32Array);
    l.dispose();
    if (step === 5) break;
    const tokens = rows.map((row) => row.responseTokens[step]!);
    const positions = rows.map((row) => row.promptTokens.length + step);
    let next!: ReturnType<VlmModel['step']>;
    const decode = () => {
      next = model.step(tokens, positions, cache);
    };
    if (onStep) onStep(decode);
    else decode();
    cache.dispose();
    ({ logits: l, cache } = next);
  }
  cache.dispose();
  disposeBatch(batch);
  const prompts = randomRows(32, 2, [3, 4], 1);
  const request = {
    images: prompts.map((p) => p.image),
    promptTokens: prompts.map((p) => [...p.promptTokens]),
    samplesPerPrompt: 2,
    maxNewTokens: 6,
    temperature: 0.8,
    topP: 1,
    greedy: false,
    seed: 5,
  };
  const generated = await generateWithCache(model, request, 2, 0);
  model.dispose();
  return { logits, generated };
}

test('KV-cached decoding of a small VlmModel on webgpu (fused decode attention) equals the cpu backend', async (t) => {
  if (!(await useWebGpu(t))) return;
  const stepPrograms: string[][] = [];
  const tensors = tf.memory().numTensors;
  const gpu = await decodeOnActiveBackend((decode) => stepPrograms.push(programsRun(decode)));
  assert.equal(tf.memory().numTensors, tensors, 'no tensor left behind');
  for (const keys of stepPrograms) {
    assert.equal(keys.filter((key) => key.startsWith('mmrl_decode_attention')).length, TINY.layers, `one fused attention per layer: ${keys.join(' ')}`);
    assert.ok(!keys.some((key) => key.startsWith('softmax')), `no composed softmax in a step: ${keys.join(' ')}`);
  }
  console.log(`dispatches of one VlmModel.step (TINY, 3 rows, ${TINY.layers} layers), fused: ${stepPrograms[0]!.length}`);
  await initBackend('cpu');
  const cpu = await decodeOnActiveBackend();
  assert.equal(gpu.logits.length, 6);
  for (const [step, logits] of gpu.logits.entries()) assertClose(logits, cpu.logits[step]!, 1e-4, `logits after ${step} steps`);
  assert.deepEqual(gpu.generated.tokens, cpu.generated.tokens, 'generated tokens');
  for (const [r, lp] of gpu.generated.logprobs.entries()) assertClose(lp, cpu.generated.logprobs[r]!, 1e-4, `generated logprobs, row ${r}`);
  assert.ok(gpu.generated.tokens.some((tokens) => tokens.length > 2), `cached steps: ${gpu.generated.tokens.map((x) => x.length)}`);
});
