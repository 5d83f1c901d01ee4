// VPPO weighter: hand-computed fixtures with a fake policy for ℓaug, the patch blackening, and StrategyTester checks.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { StrategyRegistry, initBackend, type ForwardOptions, type Policy, type SequenceBatch, type WeighterInput } from '@mmrl/core';
import { StrategyTester, assertClose } from '@mmrl/core/testing';
import plugin, { keptTokens, patchKeepMask, vppoMultiplier, vppoWeighter, type VppoTokenWeighter } from '../src/index.js';

before(async () => {
  await initBackend('wasm');
});

const tester = new StrategyTester();
const LN2 = Math.log(2);

/**
 * Fixture V1: 3 responses of T = 4 tokens; row 1 has 3 tokens (the last column is padding). ℓold = ln 0.5 everywhere
 * and ℓaug = ℓold + δ, so k3 = clamp(e^δ − δ − 1, 0, 10):
 *
 *   row 0  δ = [0, ln 2, 1, −ln 2]  k3 = [0, 1 − ln 2, e − 2, ln 2 − 0.5] = [0, 0.306853, 0.718282, 0.193147]
 *   row 1  δ = [2, −1, 0, (pad 5)]  k3 = [e² − 3, e⁻¹, 0]                   = [4.389056, 0.367879, 0]
 *   row 2  δ = [0, 0, 3, 0]         k3 = [0, 0, min(e³ − 4, 10), 0]           = [0, 0, 10, 0]
 *
 * TGF keeps ⌈0.4·T_i⌉ = 2, 2, 2 tokens: row 0 tokens 2 and 1, row 1 tokens 0 and 1, row 2 token 2 and, of the tied
 * zeros, the earliest (token 0).
 * TAS: s = [1.218282/4, 4.756936/3, 10/4] = [0.304570, 1.585645, 2.5]; min–max → ŝ = [0, 0.583519, 1];
 * mean ŝ = 0.527840; β_max = 0.9 + 0.1/0.527840 = 1.089451; factors = [0.9, 0.9 + 0.583519·0.189451, β_max]
 * = [0.9, 1.010549, 1.089451].
 */
const V1 = {
  delta: [
    [0, LN2, 1, -LN2],
    [2, -1, 0, 5],
    [0, 0, 3, 0],
  ],
  mask: [
    [1, 1, 1, 1],
    [1, 1, 1, 0],
    [1, 1, 1, 1],
  ],
  k3: [
    [0, 0.306853, 0.718282, 0.193147],
    [4.389056, 0.367879, 0, 0],
    [0, 0, 10, 0],
  ],
  factors: [0.9, 1.010549, 1.089451],
};
const f = V1.factors;
const V1_MULTIPLIER = [0, f[0]!, f[0]!, 0, f[1]!, f[1]!, 0, 0, f[2]!, 0, f[2]!, 0];

const IMAGE: [number, number] = [28, 42];

/** A policy whose forward returns fixed logprobs `[N, T]` and records what it was given. */
function fakePolicy(logprobs: number[][]) {
  const calls: { images: number[][][]; temperature: number | undefined; batch: SequenceBatch }[] = [];
  const policy = {
    forward(batch: SequenceBatch, options?: ForwardOptions) {
      calls.push({ images: batch.images.arraySync(), temperature: options?.temperature, batch });
      return { logprobs: tf.tensor2d(logprobs) };
    },
  } as unknown as Policy;
  return { policy, calls };
}

/** A weighter input for V1 (images of ones, so the perturbed images are the keep masks); `dispose` releases it all. */
function v1Input(over: Partial<WeighterInput> = {}) {
  const old = V1.delta.map((row) => row.map(() => Math.log(0.5)));
  const fake = fakePolicy(V1.delta.map((row, i) => row.map((d, t) => old[i]![t]! + d)));
  const [n, t] = [3, 4];
  const batch: SequenceBatch = {
    images: tf.ones([n, ...IMAGE]) as tf.Tensor3D,
    promptTokens: tf.zeros([n, 2], 'int32') as tf.Tensor2D,
    promptMask: tf.ones([n, 2]) as tf.Tensor2D,
    responseTokens: tf.zeros([n, t], 'int32') as tf.Tensor2D,
    responseMask: tf.tensor2d(V1.mask),
  };
  const oldLogprobs = tf.tensor2d(old);
  const input: WeighterInput = {
    advantages: tf.ones([n, t]) as tf.Tensor2D,
    mask: batch.responseMask,
    oldLogprobs,
    groupIndex: Int32Array.from([0, 0, 1]),
    forward: { logprobs: oldLogprobs },
    batch,
    policy: fake.policy,
    temperature: 0.7,
    seed: 42,
    ...over,
  };
  const dispose = () => tf.dispose([input.advantages, oldLogprobs, ...Object.values(batch)]);
  return { input, calls: fake.calls, dispose };
}

/** The V1 multiplier of a weighter, every tensor disposed. */
async function v1Weights(w: VppoTokenWeighter): Promise<number[]> {
  const { input, dispose } = v1Input();
  const out = await w.weights(input);
  const values = Array.from(await out.data());
  out.dispose();
  dispose();
  return values;
}

test('the plugin: meta as in package.json, namespace vppo, accepted by the registry', () => {
  const pkg = createRequire(import.meta.url)('../package.json') as { name: string; version: string };
  assert.deepEqual(plugin.meta, { name: pkg.name, version: pkg.version, namespace: 'vppo', apiVersion: '^1.0.0' });
  const registry = new StrategyRegistry().use(plugin);
  assert.deepEqual(registry.names('token-weighter'), ['vppo/vppo']);
});

test('token-weighter/vppo: schema and documented defaults, invalid options, no leaks, fixture V1', async () => {
  await tester.run(vppoWeighter, {
    defaults: { patchSize: 14, blackProbability: 0.5, maxDependency: 10, topTokenFraction: 0.4, betaMin: 0.9 },
    invalid: [
      { options: { patchSize: 0 }, error: { path: '/patchSize', keyword: 'minimum' } },
      { options: { patchSize: 1.5 }, error: { path: '/patchSize', keyword: 'type' } },
      { options: { blackProbability: 1.5 }, error: { path: '/blackProbability', keyword: 'maximum' } },
      { options: { topTokenFraction: 0 }, error: { path: '/topTokenFraction', keyword: 'exclusiveMinimum' } },
      { options: { betaMin: 1.1 }, error: { path: '/betaMin', keyword: 'maximum' } },
      { options: { beta: 0.9 }, error: { path: '/beta', keyword: 'additionalProperties' } },
    ],
    create: { exercise: (w) => v1Weights(w) },
    numeric: [
      { name: 'V1 defaults (TGF 0.4, TAS β_min 0.9)', actual: (w) => v1Weights(w), expected: V1_MULTIPLIER },
      {
        name: 'V1 topTokenFraction 1 (TAS only)',
        options: { topTokenFraction: 1 },
        actual: (w) => v1Weights(w),
        expected: [f[0]!, f[0]!, f[0]!, f[0]!, f[1]!, f[1]!, f[1]!, 0, f[2]!, f[2]!, f[2]!, f[2]!],
      },
      {
        name: 'V1 betaMin 1 (TGF only)',
        options: { betaMin: 1 },
        actual: (w) => v1Weights(w),
        expected: [0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0],
      },
      {
        // maxDependency 4: row 1's first token and row 2's third are clamped to 4: s = [0.304570, 1.455960, 1].
        // ŝ = [0, 1, 0.603992], mean 0.534664, β_max = 1.087033, factors [0.9, 1.087033, 1.012967].
        name: 'V1 maxDependency 4',
        options: { maxDependency: 4 },
        actual: (w) => v1Weights(w),
        expected: [0, 0.9, 0.9, 0, 1.087033, 1.087033, 0, 0, 1.012967, 0, 1.012967, 0],
      },
    ],
  });
});

test('vppoMultiplier on V1: k3, TGF mask, scores and factors', () => {
  const r = vppoMultiplier(V1.k3.flat(), V1.mask.flat(), 3, 4, { topTokenFraction: 0.4, betaMin: 0.9 });
  assert.deepEqual(Array.from(r.tokenMask), [0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0]);
  assertClose(r.scores, [0.30457, 1.585645, 2.5], 1e-5, 'scores');
  assertClose(r.factors, V1.factors, 1e-5, 'factors');
  assertClose(r.multiplier, V1_MULTIPLIER, 1e-5, 'multiplier');
});

test('TAS does not apply to fewer than two scored rows or equal scores; an empty row gets factor 1 and weight 0', () => {
  const one = vppoMultiplier([1, 2, 3], [1, 1, 1], 1, 3, { topTokenFraction: 0.4, betaMin: 0.9 });
  assert.deepEqual(Array.from(one.factors), [1]);
  assert.deepEqual(Array.from(one.multiplier), [0, 1, 1]);
  const equal = vppoMultiplier([1, 3, 2, 2], [1, 1, 1, 1], 2, 2, { topTokenFraction: 0.4, betaMin: 0.9 });
  assert.deepEqual(Array.from(equal.factors), [1, 1]);
  // Row 1 has no token: it is left out of min, max and the mean; rows 0 and 2 get ŝ = 0 and 1, mean 0.5.
  const empty = vppoMultiplier([1, 1, 9, 9, 3, 3], [1, 1, 0, 0, 1, 1], 3, 2, { topTokenFraction: 1, betaMin: 0.9 });
  assertClose(empty.factors, [0.9, 1, 0.9 + 0.1 / (0.5 + 1e-8)], 1e-9, 'factors');
  assertClose(empty.multiplier, [0.9, 0.9, 0, 0, 1.1, 1.1], 1e-6, 'multiplier');
});

test('TGF keeps ⌈fraction·T⌉ tokens (without float error)', () => {
  assert.deepEqual(
    [0, 1, 2, 3, 5, 10, 15, 24].map((t) => keptTokens(t, 0.4)),
    [0, 1, 1, 2, 2, 4, 6, 10],
  );
  assert.equal(keptTokens(7, 1), 7);
});

test('the perturbed image: 14-px patches blackened with p = 0.5, edge patches cut, seeded', () => {
  const [h, w] = [30, 44]; // 3 × 4 patches; the last row and column of patches are 2 × 14 and 14 × 2 pixels
  const mask = patchKeepMask(2, h, w, { patchSize: 14, probability: 0.5, seed: 7 });
  const patches: number[] = [];
  for (let i = 0; i < 2; i++)
    for (let py = 0; py < 3; py++)
      for (let px = 0; px < 4; px++) {
        const values = new Set<number>();
        for (let y = py * 14; y < Math.min(py * 14 + 14, h); y++)
          for (let x = px * 14; x < Math.min(px * 14 + 14, w); x++) values.add(mask[i * h * w + y * w + x]!);
        assert.equal(values.size, 1, `image ${i} patch (${py}, ${px}) is not uniform`);
        patches.push([...values][0]!);
      }
  assert.ok(patches.includes(0) && patches.includes(1), `24 patches, p = 0.5: ${patches.join('')}`);
  assert.deepEqual(patchKeepMask(2, h, w, { patchSize: 14, probability: 0.5, seed: 7 }), mask, 'same seed, same patches');
  assert.notDeepEqual(patchKeepMask(2, h, w, { patchSize: 14, probability: 0.5, seed: 8 }), mask, 'another seed');
  assert.ok(patchKeepMask(1, h, w, { patchSize: 14, probability: 0, seed: 7 }).every((v) => v === 1));
  assert.ok(patchKeepMask(1, h, w, { patchSize: 14, probability: 1, seed: 7 }).every((v) => v === 0));
  // Over many patches the blackened fraction is close to p.
  const many = patchKeepMask(100, 28, 84, { patchSize: 14, probability: 0.5, seed: 3 });
  const black = 1 - many.reduce((a, b) => a + b, 0) / many.length;
  assert.ok(Math.abs(black - 0.5) < 0.06, `blackened fraction ${black}`);
});

test('ℓaug: one forward of the given policy on the perturbed images at the rollout temperature, seeded by input.seed', async () => {
  const { input, calls, dispose } = v1Input();
  const w = await tester.instantiate(vppoWeighter, {});
  const out = await w.weights(input);
  out.dispose();
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.temperature, 0.7);
  // The images were ones: the perturbed images are the keep mask of input.seed, the rest of the batch is unchanged.
  const expected = patchKeepMask(3, ...IMAGE, { patchSize: 14, probability: 0.5, seed: 42 });
  assert.deepEqual(Float32Array.from(calls[0]!.images.flat(2)), expected);
  for (const key of ['promptTokens', 'promptMask', 'responseTokens', 'responseMask'] as const) {
    assert.equal(calls[0]!.batch[key], input.batch![key], key);
  }
  dispose();
});

test('without the policy or the batch the weighter says what it needs', async () => {
  const { input, dispose } = v1Input({ policy: undefined });
  const w = await tester.instantiate(vppoWeighter, {});
  await assert.rejects(async () => w.weights(input), /vppo: the weighter needs input\.policy and input\.batch/);
  dispose();
});

test('a batch of more than 256 rows is scored in chunks of 256 rows, in order', async () => {
  const [n, t] = [300, 3];
  const seen: number[][] = [];
  const policy = {
    forward(batch: SequenceBatch) {
      const rows = batch.images.shape[0];
      seen.push([rows, batch.responseMask.shape[0], batch.promptTokens.shape[0]]);
      // ℓaug = −(global row index) on row r, so the order of the chunks shows in k3.
      const offset = seen.slice(0, -1).reduce((a, s) => a + s[0]!, 0);
      return { logprobs: tf.tensor2d(Array.from({ length: rows }, (_, r) => Array(t).fill(-(offset + r) / 100))) };
    },
  } as unknown as Policy;
  const batch: SequenceBatch = {
    images: tf.ones([n, 14, 14]) as tf.Tensor3D,
    promptTokens: tf.zeros([n, 1], 'int32') as tf.Tensor2D,
    promptMask: tf.ones([n, 1]) as tf.Tensor2D,
    responseTokens: tf.zeros([n, t], 'int32') as tf.Tensor2D,
    responseMask: tf.ones([n, t]) as tf.Tensor2D,
  };
  const oldLogprobs = tf.zeros([n, t]) as tf.Tensor2D;
  const w = await tester.instantiate(vppoWeighter, { topTokenFraction: 1 });
  const before = tf.memory().numTensors;
  const out = await w.weights({
    advantages: oldLogprobs,
    mask: batch.responseMask,
    oldLogprobs,
    groupIndex: new Int32Array(n),
    forward: { logprobs: oldLogprobs },
    batch,
    policy,
    seed: 1,
  });
  const values = await out.data();
  out.dispose();
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
  assert.deepEqual(seen, [
    [256, 256, 256],
    [44, 44, 44],
  ]);
  // k3 grows with the row index (δ = −r/100), so the TAS factors do too: row 0 gets β_min, row 299 β_max.
  assert.ok(Math.abs(values[0]! - 0.9) < 1e-6, String(values[0]));
  for (let r = 1; r < n; r++) assert.ok(values[r * t]! > values[(r - 1) * t]!, `row ${r}`);
  tf.dispose([oldLogprobs, ...Object.values(batch)]);
});
