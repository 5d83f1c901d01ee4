import { initBackend, type StrategyDefinition } from '@mmrl/core';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  StrategyTester,
  assertPaddingInvariant,
  assertSplitInvariant,
  assertZeroWeightZeroGradient,
  padColumns,
} from '@mmrl/core/testing';
import builtins, { AGGREGATIONS, deltaLogpWeighter, grpoAdvantage, ppoClipObjective } from '@mmrl/plugins';

before(async () => {
  await initBackend('wasm');
});

const tester = new StrategyTester();
const id = (s: StrategyDefinition<any, any>) => `${s.kind}/${s.name}`;

/** Strategies that resolve a task, policy or run config from the run container cannot be built here. */
const needsRun = new Set([
  'task/fashion-shelf',
  'policy/vlm',
  'trajectory-source/on-policy',
  'trajectory-source/expert',
  'trajectory-source/ivr-rectification',
  'advantage-estimator/durian',
]);

/** Defaults documented in METHODS.md, checked on top of the schema's own. */
const documentedDefaults: Record<string, Record<string, unknown>> = {
  'advantage-estimator/grpo': { epsilon: 1e-6, std: 'unbiased' },
  'token-weighter/delta-logp': { c: 0.2, variant: 'reshape-reversed' },
  'policy-objective/ppo-clip': {
    clipLow: 0.2,
    clipHigh: 0.2,
    dualClip: null,
    aggregation: 'seq-mean-token-mean',
    klCoefficient: 0,
    klEstimator: 'k3',
  },
};

describe('every built-in strategy: schema, defaults, unknown options, creation', () => {
  for (const strategy of builtins.strategies as readonly StrategyDefinition<any, any>[]) {
    const name = id(strategy);
    test(name, async () => {
      await tester.run(strategy, {
        defaults: documentedDefaults[name],
        invalid: [{ options: { notAnOption: 1 }, error: { path: '/notAnOption', keyword: 'additionalProperties' } }],
        create: !needsRun.has(name),
      });
    });
  }
});

test('advantage-estimator/grpo: invalid options and fixture F1', async () => {
  const input = (rewards: number[]) => ({
    rewards: Float64Array.from(rewards),
    groupIndex: new Int32Array(rewards.length),
    mask: new Float32Array(rewards.length).fill(1),
    tokens: 1,
  });
  await tester.run(grpoAdvantage, {
    invalid: [
      { options: { epsilon: -1 }, error: { path: '/epsilon', keyword: 'minimum' } },
      { options: { std: 'sample' }, error: { path: '/std', keyword: 'anyOf' } },
    ],
    numeric: [
      { name: 'F1 unbiased', actual: (a) => a.compute(input([1, 0, 1, 1])), expected: [0.499999, -1.499997, 0.499999, 0.499999] },
      {
        name: 'F1 population',
        options: { std: 'population' },
        actual: (a) => a.compute(input([1, 0, 1, 1])),
        expected: [0.577349, -1.732047, 0.577349, 0.577349],
      },
      { name: 'F1 TRL ε', options: { epsilon: 1e-4 }, actual: (a) => a.compute(input([1, 0, 1, 1])), expected: [0.4999, -1.4997, 0.4999, 0.4999] },
      { name: 'F1 zero-variance group', actual: (a) => a.compute(input([1, 1, 1, 1])), expected: [0, 0, 0, 0] },
    ],
  });
});

test('token-weighter/delta-logp: invalid options and fixture F10', async () => {
  const p = [0.9, 0.5, 0.1, 0.01];
  /** Weights `w` (and `Ã = 0.8·w`) for the F10 input, every tensor disposed. */
  const weightsF10 = async (w: { weights: (x: any) => tf.Tensor2D | Promise<tf.Tensor2D> }, scale = 1) => {
    const input = {
      advantages: tf.fill([1, 4], 0.8) as tf.Tensor2D,
      mask: tf.ones([1, 4]) as tf.Tensor2D,
      oldLogprobs: tf.tensor2d([p.map(Math.log)]),
      groupIndex: Int32Array.from([0]),
      forward: { logprobs: tf.tensor2d([p.map(Math.log)]) },
    };
    const out = await w.weights(input);
    const values = Array.from(await out.data(), (v) => v * scale);
    tf.dispose([out, input.advantages, input.mask, input.oldLogprobs, input.forward.logprobs]);
    return values;
  };
  await tester.run(deltaLogpWeighter, {
    invalid: [
      { options: { c: -0.1 }, error: { path: '/c', keyword: 'minimum' } },
      { options: { variant: 'reversed' }, error: { path: '/variant', keyword: 'anyOf' } },
    ],
    create: { exercise: (w) => weightsF10(w) },
    numeric: [
      { name: 'F10 c = 0.2 w', actual: (w) => weightsF10(w), expected: [1.02, 1.1, 1.18, 1.198] },
      { name: 'F10 c = 0.2 Ã', actual: (w) => weightsF10(w, 0.8), expected: [0.816, 0.88, 0.944, 0.9584] },
      { name: 'F10 c = 0.1 w', options: { c: 0.1 }, actual: (w) => weightsF10(w), expected: [1.01, 1.05, 1.09, 1.099] },
      { name: 'F10 c = 0.1 Ã', options: { c: 0.1 }, actual: (w) => weightsF10(w, 0.8), expected: [0.808, 0.84, 0.872, 0.8792] },
    ],
  });
});

describe('policy-objective/ppo-clip: invariances', () => {
  // 3 sequences × 3 tokens; row 0 has one padding token; ratios within the clip range so every token has a gradient
  const old = [[-0.5, -1.0, -0.7], [-0.2, -0.7, -1.5], [-0.9, -0.3, -0.4]];
  const live = [[-0.45, -1.05, -0.7], [-0.25, -0.65, -1.45], [-0.85, -0.33, -0.41]];
  const adv = [[0.7, 0.7, 0.7], [-0.7, -0.7, -0.7], [1.2, 1.2, 1.2]];
  const mask = [[1, 1, 0], [1, 1, 1], [1, 1, 1]];
  const denominators = { tokens: 8, sequences: 3, maxLength: 4 };

  for (const aggregation of AGGREGATIONS) {
    test(`zero advantage multiplier ⇒ zero gradient (${aggregation}, with and without dual clip)`, async () => {
      for (const dualClip of [null, 3]) {
        const objective = await tester.instantiate(ppoClipObjective, { aggregation, dualClip });
        const oldT = tf.tensor2d(old);
        const advT = tf.tensor2d(adv);
        const maskT = tf.tensor2d(mask);
        const logprobs = tf.tensor2d(live);
        await assertZeroWeightZeroGradient({
          label: `ppo-clip ${aggregation} dualClip=${dualClip}`,
          logprobs,
          loss: (lp, m) =>
            objective.loss({ logprobs: lp, oldLogprobs: oldT, advantages: tf.mul(advT, m) as tf.Tensor2D, mask: maskT, denominators }).loss,
        });
        tf.dispose([oldT, advT, maskT, logprobs]);
      }
    });

    test(`loss is invariant to micro-batch splits and to padding (${aggregation})`, async () => {
      const objective = await tester.instantiate(ppoClipObjective, { aggregation });
      const lossOf = async (rows: readonly number[], extra = 0) => {
        const pick = (m: number[][], fill = 0) => {
          const t = tf.tensor2d(rows.map((r) => m[r]!));
          const padded = padColumns(t, extra, fill);
          t.dispose();
          return padded;
        };
        const input = { logprobs: pick(live, -3), oldLogprobs: pick(old, -1), advantages: pick(adv, 5), mask: pick(mask), denominators };
        const { loss, metrics } = objective.loss(input);
        const value = (await loss.data())[0]!;
        tf.dispose([input.logprobs, input.oldLogprobs, input.advantages, input.mask, loss, ...Object.values(metrics)]);
        return value;
      };
      await assertSplitInvariant({ label: `ppo-clip ${aggregation} split`, rows: 3, evaluate: (rows) => lossOf(rows) });
      await assertPaddingInvariant({ label: `ppo-clip ${aggregation} padding`, evaluate: (extra) => lossOf([0, 1, 2], extra) });
    });
  }
});
