import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type RowInfo, type WeighterInput } from '@mmrl/core';
import { TgrlTokenWeighter, tgrlCoefficients, type TgrlOptions } from '../../src/weighting/tgrl.js';
import { applyRatioOverrides } from '../../src/objectives/ratio-override.js';
import { GrpoAdvantageEstimator } from '../../src/advantage/grpo.js';
import { close, input as advInput } from '../advantage/fixtures.js';

before(async () => {
  await initBackend('wasm');
});

const defaults: TgrlOptions = { beta: 5, epsilon: 1e-6, std: 'unbiased', reweight: true, filter: true };
const lphi = [-0.1, -0.5, -0.2, -1.0];
const ltheta = [-0.3, -2.5, -0.25, -1.2];

/** One on-policy row (length 2) and one expert row (F7: T = 4). */
function f7Input(accuracy = 1, mask = [1, 1, 1, 1]): WeighterInput {
  const rows: RowInfo[] = [
    { source: 'on', reward: 0, accuracy: 0, length: 2 },
    { source: 'expert', reward: accuracy, accuracy, length: mask.reduce((a, b) => a + b, 0) },
  ];
  return {
    advantages: tf.tensor2d([[0.5, 0.5, 0, 0], [1.2, 1.2, 1.2, 1.2]]),
    mask: tf.tensor2d([[1, 1, 0, 0], mask]),
    oldLogprobs: tf.tensor2d([[-0.7, -0.7, 0, 0], ltheta]),
    groupIndex: Int32Array.from([0, 0]),
    forward: { logprobs: tf.tensor2d([[-0.7, -0.7, 0, 0], ltheta]) },
    rows,
    // Behaviour logprobs: ℓold on the on-policy row, ℓφ on the expert row.
    behaviourLogprobs: tf.tensor2d([[-0.7, -0.7, 0, 0], lphi]),
  };
}

test('F7: Δ̃ (unbiased and population) and w for β = 5 and 14', () => {
  const run = (o: Partial<TgrlOptions>) =>
    tgrlCoefficients(Float32Array.from(lphi), Float32Array.from(ltheta), new Float32Array(4).fill(1), 4, [true], [1], { ...defaults, ...o });
  close(run({}).standardized, [-0.444648, 1.495635, -0.606338, -0.444648]);
  close(run({ std: 'population' }).standardized, [-0.513435, 1.72701, -0.700139, -0.513435]);
  close(run({}).weight, [0.097683, 0.999435, 0.046014, 0.097683]);
  close(run({ beta: 14 }).weight, [0.001975, 1.0, 0.000206, 0.001975]);
  close(run({ reweight: false }).weight, [1, 1, 1, 1]);
});

test('F7: the override gives r̃ = ρ·w on expert tokens and the surrogate of the fixture (β = 5, ε = 0.2)', async () => {
  const x = f7Input();
  const out = await new TgrlTokenWeighter(defaults).weights(x);
  assert.ok(out.override && !out.multiplier);
  const o = out.override!;
  close(await o.tokens.data(), [0, 0, 0, 0, 1, 1, 1, 1]);
  const live = tf.tensor2d([[-0.7, -0.7, 0, 0], ltheta]);
  const ratio = o.ratio(live, o.constants);
  close((await ratio.data()).slice(4), [0.079976, 0.135259, 0.04377, 0.079976]);
  // β = 14 (the DAPO default).
  const o14 = (await new TgrlTokenWeighter({ ...defaults, beta: 14 }).weights(f7Input())).override!;
  close((await o14.ratio(live, o14.constants).data()).slice(4), [0.001617, 0.135335, 0.000196, 0.001617]);
  // Surrogate = −loss; Ā = 1.2: unclipped branch.
  const adv = tf.tensor2d([[0.5, 0.5, 0, 0], [1.2, 1.2, 1.2, 1.2]]);
  const base = tf.zeros([2, 4]) as tf.Tensor2D;
  const { loss } = applyRatioOverrides(base, base, adv, [{ tokens: o.tokens, ratio, clip: true }], 0.2, 0.2);
  close(Array.from((await loss.data()).slice(4), (v) => -v), [0.095971, 0.162311, 0.052524, 0.095971]);
  // The on-policy row keeps the host loss (0 here).
  close((await loss.data()).slice(0, 4), [0, 0, 0, 0]);
  assert.ok(o.lossMask);
  close(await o.lossMask!.data(), [1, 1, 1, 1, 1, 1, 1, 1]);
});

test('F7: Ā = −0.8 takes the clipped branch 0.8·Ā with zero gradient; Ā = 1.2 has gradient through ρ only', async () => {
  const o = (await new TgrlTokenWeighter(defaults).weights(f7Input())).override!;
  const surrogate = (a: number) => (lp: tf.Tensor) => {
    const adv = tf.tensor2d([[0, 0, 0, 0], [a, a, a, a]]);
    const zero = tf.zeros([2, 4]) as tf.Tensor2D;
    const r = o.ratio(lp as tf.Tensor2D, o.constants);
    return tf.sum(applyRatioOverrides(zero, zero, adv, [{ tokens: o.tokens, ratio: r, clip: true }], 0.2, 0.2).loss);
  };
  const live = tf.tensor2d([[-0.7, -0.7, 0, 0], ltheta]);
  const neg = surrogate(-0.8)(live);
  close([-(await neg.data())[0]!], [-0.64 * 4]);
  close(await tf.grad(surrogate(-0.8))(live).data(), new Array(8).fill(0));
  // d(−r̃·Ā)/dℓθ = −Ā·r̃ (w detached): the fixture's surrogate values with a minus sign.
  close(Array.from((await tf.grad(surrogate(1.2))(live).data()).slice(4), (v) => -v), [0.095971, 0.162311, 0.052524, 0.095971]);
});

test('positive filtering: an incorrect expert gets loss mask 0 and r̃ = 0; without the filter it trains', async () => {
  const filtered = (await new TgrlTokenWeighter(defaults).weights(f7Input(0))).override!;
  close(await filtered.lossMask!.data(), [1, 1, 1, 1, 0, 0, 0, 0]);
  const live = tf.tensor2d([[-0.7, -0.7, 0, 0], ltheta]);
  close((await filtered.ratio(live, filtered.constants).data()).slice(4), [0, 0, 0, 0]);
  const kept = (await new TgrlTokenWeighter({ ...defaults, filter: false }).weights(f7Input(0))).override!;
  close(await kept.lossMask!.data(), [1, 1, 1, 1, 1, 1, 1, 1]);
  close((await kept.ratio(live, kept.constants).data()).slice(4), [0.079976, 0.135259, 0.04377, 0.079976]);
});

test('F7b: advantages over the joint group (7 on-policy + 1 expert); the filtered expert keeps its reward in μ, σ', () => {
  const grpo = new GrpoAdvantageEstimator({ epsilon: 1e-6, std: 'unbiased' });
  close(grpo.compute(advInput([0, 1, 0, 0, 1, 0, 0, 1])), [
    -0.724567, 1.207612, -0.724567, -0.724567, 1.207612, -0.724567, -0.724567, 1.207612,
  ]);
  close(grpo.compute(advInput([0, 1, 0, 0, 1, 0, 0, 0])), [
    -0.540061, 1.620182, -0.540061, -0.540061, 1.620182, -0.540061, -0.540061, -0.540061,
  ]);
});

test('edge cases: T_i = 1 and constant Δ give Δ̃ = 0 (w = 0.5); empty expert rows; no expert ⇒ no override', async () => {
  const one = tgrlCoefficients(Float32Array.of(-0.1, 0), Float32Array.of(-2, 0), Float32Array.of(1, 0), 2, [true], [1], defaults);
  close(one.standardized, [0, 0]);
  close(one.weight, [0.5, 0]);
  const flat = tgrlCoefficients(Float32Array.of(-1, -2, -3), Float32Array.of(-2, -3, -4), Float32Array.of(1, 1, 1), 3, [true], [1], defaults);
  close(flat.weight, [0.5, 0.5, 0.5]);
  const empty = tgrlCoefficients(new Float32Array(3), new Float32Array(3), new Float32Array(3), 3, [true], [1], defaults);
  close(empty.expertTokens, [0, 0, 0]);
  const x = f7Input();
  const onlyOn = { ...x, rows: x.rows!.map((r) => ({ ...r, source: 'on' as const })) };
  assert.deepEqual(await new TgrlTokenWeighter(defaults).weights(onlyOn), {});
  await assert.rejects(
    async () => new TgrlTokenWeighter(defaults).weights({ ...x, rows: undefined }),
    /tgrl: needs per-row sources/,
  );
});

test('no tensors leak beyond the returned override', async () => {
  const x = f7Input();
  const before = tf.memory().numTensors;
  const o = (await new TgrlTokenWeighter(defaults).weights(x)).override!;
  const owned = 1 + Object.keys(o.constants).length + (o.lossMask ? 1 : 0);
  assert.equal(tf.memory().numTensors, before + owned);
  tf.dispose([o.tokens, ...Object.values(o.constants), o.lossMask!]);
  assert.equal(tf.memory().numTensors, before);
});
