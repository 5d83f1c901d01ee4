import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Value } from '@sinclair/typebox/value';
import {
  PLUGIN_API_VERSION,
  Rng,
  StrategyRegistry,
  TASK,
  collateSequences,
  disposeBatch,
  initBackend,
  type DependencyContainer,
  type ForwardOutputs,
  type ForwardRequest,
  type GenerateRequest,
  type StrategyContext,
  type Task,
} from '@mmrl/core';
import { VlmPolicy, VlmPolicyOptions, vlmPolicy } from '../../src/policies/vlm.js';

const IMAGE: [number, number] = [8, 12];
const WORDS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
const SMALL = { preset: 'small' as const, dModel: 16, layers: 2, heads: 2, ffnDim: 32, patchSize: 4, maxPositions: 32 };

const fakeTask = { vocabulary: () => WORDS, imageShape: IMAGE } as unknown as Task;
function context(seed = 1, baseDir = process.cwd()): StrategyContext {
  const container = {
    resolve: (token: unknown) => {
      if (token === TASK) return fakeTask;
      throw new Error(`unexpected token ${String(token)}`);
    },
  } as unknown as DependencyContainer;
  return { container, seed, baseDir };
}
const create = (options: { [K in keyof VlmPolicyOptions]?: VlmPolicyOptions[K] | undefined } = {}, ctx = context()) =>
  vlmPolicy.create({ ...SMALL, ...options } as VlmPolicyOptions, ctx) as Promise<VlmPolicy>;

const rng = new Rng(1);
const images = Array.from({ length: 3 }, () => Float32Array.from({ length: IMAGE[0] * IMAGE[1] }, () => rng.next()));
const prompts = [[1, 3, 4], [1, 5], [1, 6, 7, 8]];
const request = (over: Partial<GenerateRequest> = {}): GenerateRequest => ({
  images,
  promptTokens: prompts,
  samplesPerPrompt: 4,
  maxNewTokens: 6,
  temperature: 1,
  topP: 1,
  greedy: false,
  seed: 9,
  ...over,
});

async function scoreRows(policy: VlmPolicy, rows: { p: number; tokens: number[] }[], temperature = 1) {
  const batch = collateSequences(
    rows.map((r) => ({ image: images[r.p]!, promptTokens: prompts[r.p]!, responseTokens: r.tokens })),
    IMAGE,
    0,
  );
  const lp = tf.tidy(() => policy.forward(batch, { temperature }).logprobs);
  const data = (await lp.data()) as Float32Array;
  const t = lp.shape[1];
  lp.dispose();
  disposeBatch(batch);
  return rows.map((r, i) => data.slice(i * t, i * t + r.tokens.length));
}

before(async () => {
  await initBackend('wasm');
});

test('the strategy registers, its options have defaults, and it builds from the task', async () => {
  const registry = new StrategyRegistry().use({
    meta: { name: 'test', version: '0.0.0', namespace: '', apiVersion: `^${PLUGIN_API_VERSION}` },
    strategies: [vlmPolicy],
  });
  assert.equal(registry.get('policy', 'vlm').definition, vlmPolicy);
  assert.deepEqual(
    [...(vlmPolicy.provides ?? [])].sort(),
    ['entropy', 'hiddenStates', 'imageHiddenStates', 'imagelessLogprobs', 'logprobs', 'patchFeatures'],
  );
  assert.deepEqual(Value.Create(VlmPolicyOptions), { preset: 'small', patchSize: 14, maxPositions: 128 });
  assert.equal(Value.Check(VlmPolicyOptions, { dModel: 64, extra: 1 }), false, 'additionalProperties: false');

  const policy = await create();
  assert.equal(policy.tokenizer.size, WORDS.length + 3);
  assert.deepEqual(policy.model.architecture.imageShape, IMAGE);
  assert.equal(policy.parameterCount(), policy.trainableVariables.reduce((n, v) => n + v.size, 0));
  assert.equal(new Set(policy.trainableVariables.map((v) => v.name)).size, policy.trainableVariables.length);
  await assert.rejects(create({ patchSize: 5 }), /not divisible/);
  policy.dispose();
});

test('presets fix the architecture; explicit sizes override them', async () => {
  const student = await create({ preset: 'student', dModel: undefined, layers: undefined, heads: undefined, ffnDim: undefined });
  const a = student.model.architecture;
  assert.deepEqual([a.dModel, a.layers, a.heads, a.ffnDim], [128, 4, 4, 512]);
  student.dispose();
  const mixed = await create({ preset: 'expert', dModel: undefined, layers: 1, heads: undefined, ffnDim: undefined });
  const b = mixed.model.architecture;
  assert.deepEqual([b.dModel, b.layers, b.heads, b.ffnDim], [192, 1, 6, 768]);
  mixed.dispose();
});

async function forwardRows(policy: VlmPolicy, rows: { p: number; image?: Float32Array; tokens: number[] }[], outputs?: ForwardRequest) {
  const batch = collateSequences(
    rows.map((r) => ({ image: r.image ?? images[r.p]!, promptTokens: prompts[r.p]!, responseTokens: r.tokens })),
    IMAGE,
    0,
  );
  const out = tf.tidy(() => policy.forward(batch, { temperature: 0.8, outputs }) as unknown as tf.TensorContainerObject) as unknown as ForwardOutputs;
  const data: Record<string, { shape: number[]; data: number[] }> = {};
  for (const [k, v] of Object.entries(out)) data[k] = { shape: [...(v as tf.Tensor).shape], data: Array.from(await (v as tf.Tensor).data()) };
  tf.dispose(Object.values(out));
  disposeBatch(batch);
  return data;
}

test('forward passes the output request through: every extra output, only when asked, no leaks', async () => {
  const policy = await create();
  const rows = [{ p: 0, tokens: [3, 4, 5] }, { p: 2, tokens: [6, 2] }];
  const n0 = tf.memory().numTensors;
  const plain = await forwardRows(policy, rows);
  assert.deepEqual(Object.keys(plain), ['logprobs'], 'nothing asked, only logprobs');
  const all = await forwardRows(policy, rows, {
    entropy: true,
    topPEntropy: 0.95,
    hiddenStates: true,
    imageHiddenStates: true,
    imagelessLogprobs: true,
    patchFeatures: true,
  });
  assert.equal(tf.memory().numTensors, n0, 'no leaks');
  const d = SMALL.dModel;
  const p = (IMAGE[0] / SMALL.patchSize) * (IMAGE[1] / SMALL.patchSize);
  assert.deepEqual(
    Object.fromEntries(Object.entries(all).map(([k, v]) => [k, v.shape])),
    {
      logprobs: [2, 3],
      entropy: [2, 3],
      topPEntropy: [2, 3],
      hiddenStates: [2, 3, d],
      imageHiddenStates: [2, p, d],
      imagelessLogprobs: [2, 3],
      patchFeatures: [2, p, d],
    },
  );
  assert.deepEqual(all.logprobs!.data, plain.logprobs!.data, 'the extras do not change the logprobs');
  // The image-less logprobs ignore the image entirely; the ordinary ones do not.
  const swapped = await forwardRows(policy, rows.map((r) => ({ ...r, image: images[1]! })), { imagelessLogprobs: true });
  assert.deepEqual(swapped.imagelessLogprobs!.data, all.imagelessLogprobs!.data);
  assert.notDeepEqual(swapped.logprobs!.data, all.logprobs!.data);
  policy.dispose();
});

test('the same seed gives the same weights; another seed other weights', async () => {
  const [a, b, c] = await Promise.all([create(), create(), create({}, context(2))]);
  const rows = [{ p: 0, tokens: [3, 4, 5] }];
  assert.deepEqual(await scoreRows(a, rows), await scoreRows(b, rows));
  assert.notDeepEqual(await scoreRows(a, rows), await scoreRows(c, rows));
  [a, b, c].forEach((p) => p.dispose());
});

test('generate: prompt-major rows, deterministic per seed, logprobs match forward, no leaks', async () => {
  const policy = await create();
  const n0 = tf.memory().numTensors;
  const out = await policy.generate(request({ temperature: 0.9, topP: 0.95 }));
  assert.equal(tf.memory().numTensors, n0, 'generate leaks no tensors');
  assert.equal(out.tokens.length, 12);
  assert.equal(out.logprobs.length, 12);
  assert.equal(out.finished.length, 12);
  assert.deepEqual(await policy.generate(request({ temperature: 0.9, topP: 0.95 })), out, 'same request, same output');
  assert.notDeepEqual((await policy.generate(request({ temperature: 0.9, topP: 0.95, seed: 10 }))).tokens, out.tokens);
  const scored = await scoreRows(policy, out.tokens.map((tokens, r) => ({ p: Math.floor(r / 4), tokens })), 0.9);
  out.tokens.forEach((tokens, r) => {
    assert.equal(out.logprobs[r]!.length, tokens.length);
    for (let t = 0; t < tokens.length; t++) {
      assert.ok(Math.abs(out.logprobs[r]![t]! - scored[r]![t]!) < 1e-4, `row ${r} token ${t}: sampled vs forward logprob`);
    }
  });
  policy.dispose();
});

test('generate stops a row at EOS (kept, finished) or at maxNewTokens (not finished)', async () => {
  const policy = await create();
  // Make EOS likely: raise its output bias.
  const bias = policy.model.parameter('head/b');
  bias.assign(tf.tidy(() => tf.oneHot([policy.tokenizer.eosId], policy.tokenizer.size).reshape([-1]).mul(2.5)) as tf.Tensor1D);
  const out = await policy.generate(request({ maxNewTokens: 5, samplesPerPrompt: 8 }));
  let stopped = 0;
  let cut = 0;
  out.tokens.forEach((tokens, r) => {
    const eos = tokens.indexOf(policy.tokenizer.eosId);
    if (out.finished[r]) {
      stopped++;
      assert.equal(eos, tokens.length - 1, 'EOS is the last token of a finished row');
    } else {
      cut++;
      assert.equal(eos, -1, 'no EOS in a cut row');
      assert.equal(tokens.length, 5, 'cut rows have maxNewTokens tokens');
    }
  });
  assert.ok(stopped > 0 && cut > 0, `both kinds of rows seen (${stopped} stopped, ${cut} cut)`);
  // Rows that stopped early were dropped from the decoding batch: the others still match the uncached forward.
  const scored = await scoreRows(policy, out.tokens.map((tokens, r) => ({ p: Math.floor(r / 8), tokens })));
  out.tokens.forEach((tokens, r) => {
    for (let t = 0; t < tokens.length; t++) {
      assert.ok(Math.abs(out.logprobs[r]![t]! - scored[r]![t]!) < 1e-4, `row ${r} token ${t}: sampled vs forward logprob`);
    }
  });
  policy.dispose();
});

test('greedy decoding takes the arg-max at every step, identically for every sample', async () => {
  const policy = await create();
  const out = await policy.generate(request({ greedy: true, samplesPerPrompt: 2, maxNewTokens: 4 }));
  for (let p = 0; p < 3; p++) assert.deepEqual(out.tokens[2 * p], out.tokens[2 * p + 1]);
  // Arg-max check with the uncached forward: no other token scores higher at any step.
  for (let p = 0; p < 3; p++) {
    const tokens = out.tokens[2 * p]!;
    for (let t = 0; t < tokens.length; t++) {
      const candidates = Array.from({ length: policy.tokenizer.size }, (_, v) => ({ p, tokens: [...tokens.slice(0, t), v] }));
      const scores = (await scoreRows(policy, candidates)).map((s) => s[t]!);
      const best = scores.indexOf(Math.max(...scores));
      assert.equal(tokens[t], best, `prompt ${p} step ${t}`);
      assert.ok(Math.abs(out.logprobs[2 * p]![t]! - scores[best]!) < 1e-4, 'greedy logprob at temperature 1');
    }
  }
  policy.dispose();
});

test('generate: a prompt decodes the same alone and beside a longer (left-padding) prompt', async () => {
  const policy = await create();
  const alone = await policy.generate(request({ images: [images[1]!], promptTokens: [prompts[1]!], greedy: true, samplesPerPrompt: 1 }));
  const beside = await policy.generate(request({ images: [images[1]!, images[2]!], promptTokens: [prompts[1]!, prompts[2]!], greedy: true, samplesPerPrompt: 1 }));
  assert.deepEqual(beside.tokens[0], alone.tokens[0]);
  const diff = Math.max(...alone.logprobs[0]!.map((x, t) => Math.abs(x - beside.logprobs[0]![t]!)));
  assert.ok(diff < 1e-5, `logprobs differ by ${diff}`);
  policy.dispose();
});

test('save → load round trip; clone is independent; checkpoint option loads at creation', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mmrl-vlm-'));
  const rows = [{ p: 0, tokens: [3, 4, 5] }, { p: 2, tokens: [6, 2] }];
  const trained = await create({}, context(5));
  const want = await scoreRows(trained, rows);
  await trained.save(join(root, 'ckpt'));

  const fresh = await create({}, context(6));
  assert.notDeepEqual(await scoreRows(fresh, rows), want);
  await fresh.load(join(root, 'ckpt'));
  assert.deepEqual(await scoreRows(fresh, rows), want, 'identical logprobs after load');

  const fromOption = await create({ checkpoint: 'ckpt' }, context(7, root));
  assert.deepEqual(await scoreRows(fromOption, rows), want, 'checkpoint option resolved against baseDir');

  const frozen = trained.clone();
  assert.ok(frozen.trainableVariables.every((v) => !v.trainable), 'the clone is frozen');
  await trained.load(join(root, 'ckpt'));
  trained.model.parameter('head/b').assign(tf.tidy(() => tf.range(0, trained.tokenizer.size).mul(0.3)) as tf.Tensor1D);
  assert.notDeepEqual(await scoreRows(trained, rows), want);
  assert.deepEqual(await scoreRows(frozen, rows), want, 'the clone did not follow the original');
  [trained, fresh, fromOption, frozen].forEach((p) => p.dispose());
  await rm(root, { recursive: true });
});

test('load errors: missing path named; another dModel names the tensor and both shapes', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mmrl-vlm-'));
  const policy = await create();
  const missing = join(root, 'does-not-exist');
  await assert.rejects(policy.load(missing), (e: Error) => e.message.includes(missing));
  await assert.rejects(create({ checkpoint: 'does-not-exist' }, context(1, root)), (e: Error) => e.message.includes(missing));

  const wide = await create({ dModel: 32 });
  await wide.save(join(root, 'wide'));
  await assert.rejects(policy.load(join(root, 'wide')), (e: Error) => {
    assert.match(e.message, /tensor "patch\/w" has shape \[16, 32\] in the checkpoint but \[16, 16\] in this model/);
    assert.match(e.message, /dModel 32 in the checkpoint vs 16 here/);
    assert.ok(e.message.includes(join(root, 'wide')), 'names the path');
    return true;
  });
  wide.dispose();
  policy.dispose();
  await rm(root, { recursive: true });
});
