import { Type } from '@sinclair/typebox';
import { definePlugin, defineStrategy, type MmrlPlugin, type StrategyKind } from '../src/index.js';

/** A strategy of `kind` with one numeric option `beta` (default 0.5, in [0, 1]) whose factory returns its options. */
export const fakeStrategy = (kind: StrategyKind, name: string, extra: Partial<{ requires: any; provides: any }> = {}) =>
  defineStrategy({
    kind,
    name,
    optionsSchema: Type.Object(
      { beta: Type.Number({ minimum: 0, maximum: 1, default: 0.5 }) },
      { additionalProperties: false },
    ),
    docs: { summary: `fake ${kind}` },
    ...extra,
    create: (options) => ({ options }),
  });

export const fakePlugin = (name = 'fake-plugin', namespace = ''): MmrlPlugin =>
  definePlugin({
    meta: { name, version: '0.0.0', namespace, apiVersion: '^1.0.0' },
    strategies: [
      fakeStrategy('task', 'shelf'),
      fakeStrategy('policy', 'vlm', { provides: ['logprobs'] }),
      fakeStrategy('reward-function', 'boxed-accuracy'),
      fakeStrategy('trajectory-source', 'on-policy'),
      fakeStrategy('advantage-estimator', 'grpo'),
      fakeStrategy('advantage-estimator', 'dr-grpo'),
      fakeStrategy('token-weighter', 'visual-focus', { requires: ['hiddenStates'] }),
      fakeStrategy('policy-objective', 'ppo-clip', { requires: ['logprobs'] }),
    ],
  });

export const validConfig = () => ({
  seed: 3,
  task: { name: 'shelf' },
  policy: { name: 'vlm', options: { beta: 0.1 } },
  reward: { name: 'boxed-accuracy' },
  trainer: {
    sources: [{ name: 'on-policy' }],
    advantage: { name: 'grpo', options: {} },
    objective: { name: 'ppo-clip' },
  },
});
