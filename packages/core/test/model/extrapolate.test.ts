import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../src/runtime/backend.js';
import { Rng } from '../../src/util/rng.js';
import { VlmModel } from '../../src/model/vlm-model.js';
import { generateWithCache } from '../../src/model/generate.js';
import { extrapolateRow, generateExtrapolated } from '../../src/model/extrapolate.js';
import { TINY, randomImage, randomTokens } from './fixtures.js';

before(async () => {
  await initBackend('wasm');
});

test('METHODS.md §3.4 example: ℓRL = −0.5, ℓbase = −1.5, a = 0.05 → −0.45 on an extrapolated position', () => {
  // Base arg-max is token 0; ℓRL(0) − ℓbase(0) = −0.5 − (−0.2) = −0.3 ≤ τ = −0.3: extrapolated.
  const rl = [-0.5, -1.2, -2.0];
  const base = [-0.2, -1.5, -3.0];
  const r = extrapolateRow(rl, base, { alpha: 0.05, tau: -0.3, topK: 2 });
  assert.equal(r.extrapolated, true);
  assert.ok(Math.abs(r.logits[0]! - (1.05 * -0.5 + 0.05 * 0.2)) < 1e-12);
  assert.ok(Math.abs(r.logits[1]! - (1.05 * -1.2 + 0.05 * 1.5)) < 1e-12);
  assert.equal(r.logits[2], -Infinity); // outside the base's top-2
  const ex = extrapolateRow([-0.5, -0.9], [-0.9, -1.5], { alpha: 0.05, tau: -0.3, topK: 50 });
  // o = 0; ℓRL(0) − ℓbase(0) = 0.4 > τ: not extrapolated, RL log-probs unchanged.
  assert.equal(ex.extrapolated, false);
  assert.deepEqual(Array.from(ex.logits), [-0.5, -0.9]);
  const fixture = extrapolateRow([-0.5, -3], [-1.5, -1.6], { alpha: 0.05, tau: 2, topK: 2 });
  assert.ok(Math.abs(fixture.logits[0]! - -0.45) < 1e-12);
});

test('a = 0 with every token a candidate decodes exactly like the policy alone; the base moves the tokens when a > 0', async () => {
  const rl = new VlmModel(TINY, { seed: 31 });
  const base = new VlmModel(TINY, { seed: 32 });
  const rng = new Rng(4);
  const request = {
    images: [randomImage(rng), randomImage(rng)],
    promptTokens: [randomTokens(rng, 3), randomTokens(rng, 5)],
    samplesPerPrompt: 2,
    maxNewTokens: 6,
    temperature: 1,
    topP: 1,
    greedy: true,
    seed: 3,
  };
  const plain = await generateWithCache(rl, request, 2, 0);
  const same = await generateExtrapolated(rl, base, request, 2, 0, { alpha: 0, tau: Infinity, topK: TINY.vocabSize });
  assert.deepEqual(same.tokens, plain.tokens);
  assert.equal(same.extrapolatedFraction, 1);
  const never = await generateExtrapolated(rl, base, request, 2, 0, { alpha: 0.5, tau: -Infinity, topK: 5 });
  assert.deepEqual(never.tokens, plain.tokens);
  assert.equal(never.extrapolatedFraction, 0);
  const strong = await generateExtrapolated(rl, base, request, 2, 0, { alpha: 5, tau: Infinity, topK: TINY.vocabSize });
  assert.notDeepEqual(strong.tokens, plain.tokens);
  rl.dispose();
  base.dispose();
});
