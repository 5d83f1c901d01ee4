// VPPO with a real policy: the built-in `vlm` policy (a small random one) samples responses; the weighter runs its
// perturbed-image forward pass and returns a multiplier with the TGF token counts and TAS factor range of METHODS.md §8.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  Rng,
  TASK,
  collateSequences,
  disposeBatch,
  initBackend,
  type DependencyContainer,
  type SequenceBatch,
  type StrategyContext,
  type Task,
  type WeighterInput,
} from '@mmrl/core';
import { vlmPolicy, type VlmPolicy, type VlmPolicyOptions } from '@mmrl/plugins';
import { keptTokens, vppoWeighter, type VppoTokenWeighter } from '../src/index.js';
import { StrategyTester } from '@mmrl/core/testing';

const IMAGE: [number, number] = [8, 12];
const WORDS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
const fakeTask = { vocabulary: () => WORDS, imageShape: IMAGE } as unknown as Task;
const context: StrategyContext = {
  container: {
    resolve: (token: unknown) => {
      if (token === TASK) return fakeTask;
      throw new Error(`unexpected token ${String(token)}`);
    },
  } as unknown as DependencyContainer,
  seed: 1,
  baseDir: process.cwd(),
};

const tester = new StrategyTester();
let policy: VlmPolicy;
let batch: SequenceBatch;
let oldLogprobs: tf.Tensor2D;
let lengths: number[];

before(async () => {
  await initBackend('wasm');
  const options = { preset: 'small', dModel: 16, layers: 2, heads: 2, ffnDim: 32, patchSize: 4, maxPositions: 32 };
  policy = (await vlmPolicy.create(options as VlmPolicyOptions, context)) as VlmPolicy;
  const rng = new Rng(5);
  const images = Array.from({ length: 2 }, () => Float32Array.from({ length: IMAGE[0] * IMAGE[1] }, () => rng.next()));
  const prompts = [[1, 3, 4], [1, 5]];
  const sampled = await policy.generate({
    images,
    promptTokens: prompts,
    samplesPerPrompt: 3,
    maxNewTokens: 8,
    temperature: 1,
    topP: 1,
    greedy: false,
    seed: 3,
  });
  lengths = sampled.tokens.map((t) => t.length);
  batch = collateSequences(
    sampled.tokens.map((responseTokens, i) => ({ image: images[Math.floor(i / 3)]!, promptTokens: prompts[Math.floor(i / 3)]!, responseTokens })),
    IMAGE,
    policy.tokenizer.padId,
  );
  oldLogprobs = tf.tidy(() => policy.forward(batch, { temperature: 1 }).logprobs);
});

after(() => {
  oldLogprobs.dispose();
  disposeBatch(batch);
  policy.dispose();
});

const input = (seed: number): WeighterInput => ({
  advantages: batch.responseMask,
  mask: batch.responseMask,
  oldLogprobs,
  groupIndex: Int32Array.from([0, 0, 0, 1, 1, 1]),
  forward: { logprobs: oldLogprobs },
  batch,
  policy,
  temperature: 1,
  seed,
});

async function multiplier(options: Record<string, unknown>, seed = 11): Promise<number[][]> {
  const w = await tester.instantiate<VppoTokenWeighter>(vppoWeighter, options);
  const before = tf.memory().numTensors;
  const out = await w.weights(input(seed));
  const rows = out.arraySync();
  out.dispose();
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
  return rows;
}

test('TGF keeps ⌈0.4·T_i⌉ tokens per response, 0 on padding; TAS factors lie in [β_min, β_max]', async () => {
  const rows = await multiplier({ patchSize: 4 });
  const factors: number[] = [];
  rows.forEach((row, i) => {
    const kept = row.filter((v) => v > 0);
    assert.equal(kept.length, keptTokens(lengths[i]!, 0.4), `row ${i}: ${row.join(', ')}`);
    assert.ok(row.slice(lengths[i]!).every((v) => v === 0), `row ${i}: padding`);
    assert.ok(kept.every((v) => Math.abs(v - kept[0]!) < 1e-6), `row ${i}: one factor per trajectory`);
    factors.push(kept[0]!);
  });
  assert.ok(Math.min(...factors) >= 0.9 - 1e-6, factors.join(', '));
  assert.ok(Math.abs(Math.min(...factors) - 0.9) < 1e-6, `the least visually dependent row gets β_min: ${factors.join(', ')}`);
  assert.ok(Math.max(...factors) > 1, `the most visually dependent row gets more than 1: ${factors.join(', ')}`);
});

test('deterministic for a seed; another seed blackens other patches', async () => {
  assert.deepEqual(await multiplier({ patchSize: 4 }, 11), await multiplier({ patchSize: 4 }, 11));
  const seeds: number[][][] = [];
  for (const seed of [12, 13, 14]) seeds.push(await multiplier({ patchSize: 4 }, seed));
  assert.ok(seeds.some((m) => JSON.stringify(m) !== JSON.stringify(seeds[0])), 'the perturbation depends on the seed');
});

test('an unperturbed image (blackProbability 0) has no visual dependency: factor 1 on the first ⌈0.4·T_i⌉ tokens', async () => {
  const rows = await multiplier({ patchSize: 4, blackProbability: 0 });
  rows.forEach((row, i) => {
    const k = keptTokens(lengths[i]!, 0.4);
    assert.deepEqual(row, row.map((_, t) => (t < k ? 1 : 0)), `row ${i}`);
  });
});
