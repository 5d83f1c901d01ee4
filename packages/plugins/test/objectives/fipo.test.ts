import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Value } from '@sinclair/typebox/value';
import { initBackend } from '@mmrl/core';
import { FipoOptions, FipoPolicyObjective, fipoGamma, futureKlWeights, type FutureKlOptions } from '../../src/objectives/fipo.js';
import { PpoClipPolicyObjective, type PpoClipOptions } from '../../src/objectives/ppo-clip.js';

before(async () => {
  await initBackend('wasm');
});

const DEFAULTS: FipoOptions = {
  clipLow: 0.2,
  clipHigh: 0.28,
  dualClip: 10,
  aggregation: 'token-mean',
  klCoefficient: 0,
  klEstimator: 'k3',
  decay: 32,
  fipoEpsilon: 0.2,
  clipMode: 'high-only',
  safetyThreshold: 4,
  participationRatio: 10,
};
const opts = (o: Partial<FipoOptions> = {}): FipoOptions => ({ ...DEFAULTS, ...o });
const ppoOpts = (o: FipoOptions): PpoClipOptions => ({
  clipLow: o.clipLow,
  clipHigh: o.clipHigh,
  dualClip: o.dualClip,
  aggregation: o.aggregation,
  klCoefficient: o.klCoefficient,
  klEstimator: o.klEstimator,
});

const closeTo = (a: number, b: number, tol = 1e-5) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
const allClose = (got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-5) => {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) closeTo(got[i]!, want[i]!, tol);
};

// Fixture F11 (METHODS.md §3.5).
const DELTA = [0.1, -0.05, 1.5, 3.0, -0.1];
const F11: Record<number, { gamma: number; fkl: number[]; high: number[]; sym: number[]; symSafety: number[] }> = {
  1: {
    gamma: 0.5,
    fkl: [0.44375, 0.6875, 1.475, -0.05, -0.1],
    high: [1.2, 1.2, 1.2, 1.0, 1.0],
    sym: [1.2, 1.2, 1.2, 0.951229, 0.904837],
    symSafety: [1.2, 1.2, 1.0, 0.951229, 0.904837],
  },
  32: {
    gamma: 0.978572,
    fkl: [1.395776, 1.32415, 1.40424, -0.097857, -0.1],
    high: [1.2, 1.2, 1.2, 1.0, 1.0],
    sym: [1.2, 1.2, 1.2, 0.906778, 0.904837],
    symSafety: [1.2, 1.2, 1.0, 0.906778, 0.904837],
  },
};

const weightOpts = (o: FipoOptions): FutureKlOptions => ({
  decay: o.decay,
  fipoEpsilon: o.fipoEpsilon,
  clipMode: o.clipMode,
  safetyThreshold: o.safetyThreshold,
  participationRatio: o.participationRatio,
});

test('schema defaults: DAPO host (0.2/0.28, dual clip 10, token-mean, no KL) and FIPO τ 32, ε_f 0.2, high-only, 4, 10', () => {
  assert.deepEqual(Value.Default(FipoOptions, {}), DEFAULTS);
  assert.ok(Value.Check(FipoOptions, opts({ clipMode: 'symmetric', dualClip: null })));
  assert.ok(!Value.Check(FipoOptions, { ...DEFAULTS, clipMode: 'low-only' }));
  assert.ok(!Value.Check(FipoOptions, { ...DEFAULTS, decay: 0 }));
  assert.ok(!Value.Check(FipoOptions, { ...DEFAULTS, extra: 1 }));
});

test('F11: futureKlWeights (host reference), τ = 1 and 32, both clip modes, safety row', () => {
  const delta = Float32Array.from(DELTA);
  const ratio = Float32Array.from(DELTA.map(Math.exp));
  allClose(ratio, [1.105171, 0.951229, 4.481689, 20.085537, 0.904837]);
  const mask = new Float32Array(5).fill(1);
  const pos = new Float32Array(5).fill(1);
  const neg = new Float32Array(5).fill(-1);
  for (const [tau, row] of Object.entries(F11)) {
    const o = opts({ decay: Number(tau) });
    closeTo(fipoGamma(o.decay), row.gamma, 1e-6);
    const high = futureKlWeights(delta, ratio, mask, pos, weightOpts(o));
    allClose(high.futureKl, row.fkl);
    allClose(high.weights, row.high);
    const sym = futureKlWeights(delta, ratio, mask, pos, weightOpts(opts({ decay: Number(tau), clipMode: 'symmetric' })));
    allClose(sym.futureKl, row.fkl);
    allClose(sym.weights, row.sym);
    const safe = futureKlWeights(delta, ratio, mask, neg, weightOpts(opts({ decay: Number(tau), clipMode: 'symmetric' })));
    allClose(safe.weights, row.symSafety);
    // high-only + safety: r > 4 on tokens 2 and 3 caps them at 1.0.
    allClose(futureKlWeights(delta, ratio, mask, neg, weightOpts(o)).weights, [1.2, 1.2, 1.0, 1.0, 1.0]);
  }
});

test('F11: tensor weights match the fixture and the host reference, padding gives FKL 0 (f = 1)', async () => {
  for (const [tau, row] of Object.entries(F11)) {
    for (const clipMode of ['high-only', 'symmetric'] as const) {
      for (const A of [1, -1]) {
        const obj = new FipoPolicyObjective(opts({ decay: Number(tau), clipMode }));
        // Row 0: the fixture. Row 1: the fixture shifted right by 2 tokens after 2 padded (garbage) positions.
        const lp = tf.tensor2d([[...DELTA, 0, 0], [7, -9, ...DELTA]]);
        const old = tf.zeros([2, 7]) as tf.Tensor2D;
        const adv = tf.tensor2d([[A, A, A, A, A, 0, 0], [0, 0, A, A, A, A, A]]);
        const mask = tf.tensor2d([[1, 1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1, 1]]);
        const f = await obj.weights(lp, old, adv, mask).data();
        const want = clipMode === 'high-only' ? (A > 0 ? row.high : [1.2, 1.2, 1.0, 1.0, 1.0]) : A > 0 ? row.sym : row.symSafety;
        allClose(f.slice(0, 5), want);
        allClose(f.slice(9, 14), want);
        allClose([f[5]!, f[6]!, f[7]!, f[8]!], [1, 1, 1, 1]);
        tf.dispose([lp, old, adv, mask]);
      }
    }
  }
});

test('chunked Future-KL matMul (T > 256) matches the host reference', async () => {
  const N = 2;
  const T = 300;
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const delta = Float32Array.from({ length: N * T }, () => (rand() - 0.5) * 0.2 + (rand() < 0.02 ? 3 : 0));
  const mask = Float32Array.from({ length: N * T }, (_, j) => (j % T < T - 17 * (j < T ? 1 : 2) ? 1 : 0));
  const adv = Float32Array.from({ length: N * T }, (_, j) => (j < T ? 1 : -1) * mask[j]!);
  for (const clipMode of ['high-only', 'symmetric'] as const) {
    const o = opts({ decay: 12, clipMode, fipoEpsilon: 0.5 });
    const ref = futureKlWeights(delta, Float32Array.from(delta, Math.exp), mask, adv, { ...weightOpts(o), tokens: T });
    const lp = tf.tensor2d(delta, [N, T]);
    const old = tf.zeros([N, T]) as tf.Tensor2D;
    const a = tf.tensor2d(adv, [N, T]);
    const m = tf.tensor2d(mask, [N, T]);
    const f = await new FipoPolicyObjective(o).weights(lp, old, a, m).data();
    allClose(f, ref.weights, 1e-4);
    tf.dispose([lp, old, a, m]);
  }
});

const batch = (logprobs: number[][], oldLogprobs: number[][], advantages: number[][], mask: number[][]) => ({
  logprobs: tf.tensor2d(logprobs),
  oldLogprobs: tf.tensor2d(oldLogprobs),
  advantages: tf.tensor2d(advantages),
  mask: tf.tensor2d(mask),
  denominators: {
    tokens: mask.flat().reduce((s, v) => s + v, 0),
    sequences: mask.filter((r) => r.some((v) => v > 0)).length,
    maxLength: mask[0]!.length,
  },
});

test('θ = θold (Δ = 0): f = 1 and the loss equals ppo-clip with the same options', async () => {
  const lp = [
    [-0.3, -1.1, -2.0],
    [-0.4, -0.6, -1.0],
  ];
  const input = batch(lp, lp, [[0.7, 0.7, 0], [-0.7, -0.7, -0.7]], [[1, 1, 0], [1, 1, 1]]);
  for (const aggregation of ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum', 'seq-mean-token-sum-norm'] as const) {
    for (const clipMode of ['high-only', 'symmetric'] as const) {
      const o = opts({ aggregation, clipMode, decay: 1 });
      const fipo = new FipoPolicyObjective(o).loss(input);
      const ppo = new PpoClipPolicyObjective(ppoOpts(o)).loss(input);
      closeTo((await fipo.loss.data())[0]!, (await ppo.loss.data())[0]!, 1e-6);
      closeTo((await fipo.metrics['fipo_weight_mean']!.data())[0]!, 1);
      for (const k of ['pg_loss', 'clip_fraction', 'approx_kl_old', 'loss']) {
        closeTo((await fipo.metrics[k]!.data())[0]!, (await ppo.metrics[k]!.data())[0]!, 1e-6);
      }
    }
  }
});

test('gradient does not flow through f: d loss / d ℓθ = ppo-clip gradient on A·f = f · ppo-clip gradient on A', async () => {
  const before = tf.memory().numTensors;
  // Tokens: r = 1.105 (A>0, unclipped), r = 0.951, r = 4.48 (clipped for A>0), r = 20 (> c_dual), r = 0.905.
  const old = tf.tensor2d([[-1, -1, -1, -1, -1, 0], [-2, -2, -2, -2, -2, 0]]);
  const lp0 = tf.tensor2d([DELTA.map((d) => d - 1).concat([0]), DELTA.map((d) => d - 2).concat([0])]);
  const adv = tf.tensor2d([[0.8, 0.8, 0.8, 0.8, 0.8, 0], [-0.6, -0.6, -0.6, -0.6, -0.6, 0]]);
  const mask = tf.tensor2d([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 0]]);
  const denominators = { tokens: 10, sequences: 2, maxLength: 6 };
  for (const clipMode of ['high-only', 'symmetric'] as const) {
    const o = opts({ clipMode, decay: 1, dualClip: 3, clipHigh: 0.28 });
    const fipo = new FipoPolicyObjective(o);
    const ppo = new PpoClipPolicyObjective(ppoOpts(o));
    const f = fipo.weights(lp0, old, adv, mask);
    const scaled = tf.mul(adv, f) as tf.Tensor2D;
    const lossOf = (obj: PpoClipPolicyObjective, a: tf.Tensor2D) => (lp: tf.Tensor) =>
      obj.loss({ logprobs: lp as tf.Tensor2D, oldLogprobs: old, advantages: a, mask, denominators }).loss;
    const gFipo = tf.grad(lossOf(fipo, adv))(lp0);
    const gScaled = tf.grad(lossOf(ppo, scaled))(lp0);
    const gPlain = tf.grad(lossOf(ppo, adv))(lp0);
    const [gf, gs, gp, fv] = await Promise.all([gFipo.data(), gScaled.data(), gPlain.data(), f.data()]);
    allClose(gf, gs, 1e-6);
    allClose(gf, Array.from(gp, (g, i) => g * fv[i]!), 1e-6);
    assert.ok(gf.some((g) => Math.abs(g) > 1e-3), 'some token has a gradient');
    assert.ok(fv.some((v) => Math.abs(v - 1) > 1e-3), 'some weight differs from 1');
    tf.dispose([f, scaled, gFipo, gScaled, gPlain]);
  }
  tf.dispose([old, lp0, adv, mask]);
  assert.equal(tf.memory().numTensors, before);
});

test('padding: garbage on masked positions changes nothing; an all-padded batch gives loss 0 and no gradient', async () => {
  const o = opts({ decay: 1, clipMode: 'symmetric' });
  const obj = new FipoPolicyObjective(o);
  const a = batch([[-0.2, -1.3, -0.4]], [[-0.3, -1.0, -0.9]], [[1, 1, 0]], [[1, 1, 0]]);
  const b = batch([[-0.2, -1.3, 25]], [[-0.3, -1.0, -40]], [[1, 1, 0]], [[1, 1, 0]]);
  const la = (await obj.loss(a).loss.data())[0]!;
  const lb = (await obj.loss(b).loss.data())[0]!;
  closeTo(la, lb, 1e-6);
  const empty = batch([[0.5, 2.0]], [[0.0, -3.0]], [[1, -1]], [[0, 0]]);
  closeTo((await obj.loss(empty).loss.data())[0]!, 0);
  const g = tf.grad((lp: tf.Tensor) => obj.loss({ ...empty, logprobs: lp as tf.Tensor2D }).loss)(empty.logprobs);
  allClose(await g.data(), [0, 0]);
});

test('KL coefficient without reference logprobs is an error; with them the KL term is added', async () => {
  const obj = new FipoPolicyObjective(opts({ klCoefficient: 0.01 }));
  assert.equal(obj.needsReference, true);
  assert.equal(new FipoPolicyObjective(opts()).needsReference, false);
  const input = batch([[-0.3, -1.1]], [[-0.5, -1.0]], [[1, 1]], [[1, 1]]);
  assert.throws(() => obj.loss(input), /fipo: klCoefficient > 0 needs reference-policy logprobs/);
  const out = obj.loss({ ...input, referenceLogprobs: tf.tensor2d([[-0.6, -1.0]]) });
  assert.ok('kl' in out.metrics);
  closeTo(
    (await out.loss.data())[0]!,
    (await out.metrics['pg_loss']!.data())[0]! + 0.01 * (await out.metrics['kl']!.data())[0]!,
    1e-6,
  );
});

test('loss and gradient leak no tensors', async () => {
  const obj = new FipoPolicyObjective(opts({ decay: 1 }));
  const old = tf.tensor2d([[0, 0, 0]]);
  const adv = tf.tensor2d([[1, 1, 1]]);
  const mask = tf.tensor2d([[1, 1, 0]]);
  const v = tf.variable(tf.tensor2d([[0.3, -0.2, 0.1]]));
  const before = tf.memory().numTensors;
  const out = obj.loss({ logprobs: v, oldLogprobs: old, advantages: adv, mask, denominators: { tokens: 2, sequences: 1, maxLength: 3 } });
  tf.dispose([out.loss, ...Object.values(out.metrics)]);
  const g = tf.grad((lp: tf.Tensor) =>
    obj.loss({ logprobs: lp as tf.Tensor2D, oldLogprobs: old, advantages: adv, mask, denominators: { tokens: 2, sequences: 1, maxLength: 3 } }).loss,
  )(v);
  g.dispose();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([old, adv, mask, v]);
});
