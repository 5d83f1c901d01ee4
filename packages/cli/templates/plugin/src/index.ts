import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { Type, type Static } from '@sinclair/typebox';
import { definePlugin, defineStrategy, type TokenWeighter, type WeighterInput } from '@mmrl/core';

/**
 * Options of `{{namespace}}/surprise-boost`. A TypeBox schema is a JSON schema: mmrl validates the config's
 * `options` against it (`additionalProperties: false`, a default on every knob) and `mmrl plugins` lists it.
 */
export const SurpriseBoostOptions = Type.Object(
  {
    threshold: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1,
      default: 0.5,
      description: 'A token is "surprising" when the old policy gave it a probability below this.',
    }),
    boost: Type.Number({
      minimum: 0,
      default: 0.5,
      description: 'The advantage of a surprising token is multiplied by 1 + boost (0 turns the weighter off).',
    }),
  },
  { additionalProperties: false },
);
export type SurpriseBoostOptions = Static<typeof SurpriseBoostOptions>;

/**
 * An example token weighter: scales up the advantage of the tokens the old policy found unlikely,
 *
 *   p_{i,t} = exp(ℓold_{i,t}),   w_{i,t} = m_{i,t} · (1 + boost · [p_{i,t} < threshold]),   Ã = A · w.
 *
 * Input: `oldLogprobs` and `mask`, both `[N, T]` (N trajectories, T response tokens). Output: a non-negative
 * `[N, T]` multiplier, 0 on padding, computed without gradient; the trainer multiplies it into the advantages (and
 * into those of any other weighter in the config).
 */
export class SurpriseBoostTokenWeighter implements TokenWeighter {
  constructor(private readonly options: SurpriseBoostOptions) {}

  weights(input: WeighterInput): tf.Tensor2D {
    const { threshold, boost } = this.options;
    // tf.tidy releases every intermediate tensor; the returned one belongs to the caller.
    return tf.tidy(() => {
      const surprising = tf.cast(tf.less(tf.exp(input.oldLogprobs), threshold), 'float32');
      return tf.mul(tf.add(1, tf.mul(boost, surprising)), input.mask) as tf.Tensor2D;
    });
  }
}

export const surpriseBoostWeighter = defineStrategy({
  kind: 'token-weighter',
  name: 'surprise-boost',
  optionsSchema: SurpriseBoostOptions,
  docs: {
    summary: 'Multiplies the advantage of tokens with old-policy probability below `threshold` by 1 + boost.',
    equations: 'w = m · (1 + boost · [exp(ℓold) < threshold])',
  },
  // What the weighter reads from the old-policy forward; the run checks that the policy provides it.
  requires: ['logprobs'],
  create: (options) => new SurpriseBoostTokenWeighter(options),
});

// name and version come from package.json, so they never drift from what npm publishes.
const pkg = createRequire(import.meta.url)('../package.json') as { name: string; version: string };

/**
 * The plugin: `plugins: [{{name}}]` in a config (or `--plugin {{name}}`) registers its strategies as
 * `{{namespace}}/<name>`, e.g. `weighters: [{ name: {{namespace}}/surprise-boost }]`.
 */
export default definePlugin({
  meta: {
    name: pkg.name,
    version: pkg.version,
    namespace: '{{namespace}}',
    // The plugin API this code was written against (a semver range; @mmrl/core refuses other majors).
    apiVersion: '{{apiVersion}}',
  },
  strategies: [surpriseBoostWeighter],
});
