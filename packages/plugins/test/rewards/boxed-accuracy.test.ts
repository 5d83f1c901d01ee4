import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import { StrategyRegistry, definePlugin, PLUGIN_API_VERSION } from '@mmrl/core';
import {
  BoxedAccuracyOptions,
  BoxedAccuracyRewardFunction,
  boxedAccuracyReward,
  overlongPenalty,
} from '../../src/rewards/boxed-accuracy.js';

const close = (actual: number, expected: number, tol = 1e-6) =>
  assert.ok(Math.abs(actual - expected) <= tol, `${actual} vs ${expected}`);

const score = (rf: BoxedAccuracyRewardFunction, response: string, answer: string, responseLength = 10) =>
  rf.score({ response, answer, responseLength });

const DESC_OK = '<description>A red square.</description> <think>count</think> \\boxed{7}';
const THINK_OK = '<think> 2+2 is 4 </think> The answer is \\boxed{4}.';

test('F16 combined reward, w = 0.1: (1, 1) → 1, (1, 0) → 0.9, (0, 1) → 0.1', () => {
  const rf = new BoxedAccuracyRewardFunction({ formatWeight: 0.1, format: 'description-think-boxed' });
  const both = score(rf, DESC_OK, '7');
  assert.deepEqual([both.accuracy, both.format], [1, 1]);
  close(both.reward, 1);
  const accOnly = score(rf, 'The answer is \\boxed{7}', '7');
  assert.deepEqual([accOnly.accuracy, accOnly.format], [1, 0]);
  close(accOnly.reward, 0.9);
  const fmtOnly = score(rf, DESC_OK, '8');
  assert.deepEqual([fmtOnly.accuracy, fmtOnly.format], [0, 1]);
  close(fmtOnly.reward, 0.1);
  const neither = score(rf, 'no answer', '7');
  assert.deepEqual(neither, { reward: 0, accuracy: 0, format: 0 });
});

test('think-boxed format follows EasyR1 math.py (F16 rows)', () => {
  const rf = new BoxedAccuracyRewardFunction({ formatWeight: 0.1, format: 'think-boxed' });
  const r1 = score(rf, THINK_OK, '4');
  assert.deepEqual([r1.accuracy, r1.format], [1, 1]);
  close(r1.reward, 1);
  const r2 = score(rf, '<think>x</think> \\boxed{\\frac{1}{2}} and later \\boxed{3}', '3');
  assert.deepEqual([r2.accuracy, r2.format], [1, 1], 'last box is graded');
  const r3 = score(rf, '<think>a</think> \\boxed{\\frac{3}{4}', '\\frac{3}{4}');
  assert.deepEqual([r3.accuracy, r3.format], [0, 1], 'unbalanced box: format regex matches, accuracy 0');
  close(r3.reward, 0.1);
  const r4 = score(rf, DESC_OK, '7');
  assert.deepEqual([r4.accuracy, r4.format], [1, 0]);
  close(r4.reward, 0.9);
});

test('defaults: formatWeight 0 (reward = accuracy), description-think-boxed format, no length term', () => {
  const rf = new BoxedAccuracyRewardFunction();
  assert.equal(rf.formatWeight, 0);
  assert.equal(rf.format, 'description-think-boxed');
  assert.equal(rf.overlong, undefined);
  assert.deepEqual(score(rf, DESC_OK, '7', 1e9), { reward: 1, accuracy: 1, format: 1 });
  assert.deepEqual(score(rf, 'The answer is \\boxed{7}', '7'), { reward: 1, accuracy: 1, format: 0 });
  assert.deepEqual(score(rf, DESC_OK, '8'), { reward: 0, accuracy: 0, format: 1 });
});

test('mmrl tokenizer decoding: accuracy 1 against "1" and description-format 1', () => {
  const rf = new BoxedAccuracyRewardFunction({ formatWeight: 0.1 });
  const r = score(rf, '<description> coat shirt </description> <think> 0 + 1 = 1 </think> \\boxed{ 1 }', '1');
  assert.equal(r.accuracy, 1);
  assert.equal(r.format, 1);
  close(r.reward, 1);
  const spacedFrac = score(rf, '<description> a </description> <think> b </think> \\boxed{ \\frac{ 1 }{ 2 } }', '0.5');
  assert.equal(spacedFrac.accuracy, 1);
});

test('edge cases: empty response, nested braces, multiple boxes, x = 5, \\text{5 cm}, tuples, .5, \\dfrac', () => {
  const rf = new BoxedAccuracyRewardFunction({ format: 'think-boxed' });
  assert.deepEqual(score(rf, '', '1'), { reward: 0, accuracy: 0, format: 0 });
  assert.equal(score(rf, '\\boxed{\\frac{1}{2}}', '\\frac{1}{2}').accuracy, 1);
  assert.equal(score(rf, '\\boxed{\\frac{1}{2}}', '0.5').accuracy, 1);
  assert.equal(score(rf, '\\boxed{1} no wait \\boxed{2}', '2').accuracy, 1);
  assert.equal(score(rf, '\\boxed{1} no wait \\boxed{2}', '1').accuracy, 0);
  assert.equal(score(rf, '\\boxed{x = 5}', '5').accuracy, 1);
  assert.equal(score(rf, '\\boxed{\\text{5 cm}}', '5').accuracy, 1);
  assert.equal(score(rf, '\\boxed{(1, 2)}', '(1,2)').accuracy, 1);
  assert.equal(score(rf, '\\boxed{.5}', '\\frac{1}{2}').accuracy, 1);
  assert.equal(score(rf, '\\boxed{\\dfrac{3}{4}}', '\\frac{3}{4}').accuracy, 1);
  assert.equal(score(rf, '\\boxed{\\frac{2}{4}}', '\\frac{1}{2}').accuracy, 0);
  assert.equal(score(rf, '\\boxed{3 / 4}', '\\frac{3}{4}').accuracy, 1, 'pre-normalisation joins a / b (R-2)');
});

test('no \\boxed{} ⇒ accuracy 0 even against a ground truth "None" (IVR-R1 A.3)', () => {
  const rf = new BoxedAccuracyRewardFunction();
  assert.equal(score(rf, 'None', 'None').accuracy, 0);
  assert.equal(score(rf, '\\boxed{None}', 'None').accuracy, 1);
});

test('F5b: soft overlong penalty (L_max 20480, L_cache 4096)', () => {
  const cases: [number, number][] = [
    [16000, 0],
    [16384, 0],
    [17408, -0.25],
    [18432, -0.5],
    [20480, -1],
    [21000, -1],
  ];
  for (const [len, expected] of cases) close(overlongPenalty(len, 20480, 4096), expected);
  const rf = new BoxedAccuracyRewardFunction({ overlong: { maxLength: 20480, cacheLength: 4096 } });
  assert.equal(rf.overlong?.factor, 1);
  for (const [len, expected] of cases) {
    const r = score(rf, 'The answer is \\boxed{7}', '7', len);
    close(r.reward, 1 + expected);
    assert.equal(r.accuracy, 1);
  }
  // F5b: a correct answer with |y| = 18432 → R = 0.5
  close(score(rf, 'The answer is \\boxed{7}', '7', 18432).reward, 0.5);
});

test('overlong factor scales the length term; cacheLength 0 is a hard cut at maxLength', () => {
  const rf = new BoxedAccuracyRewardFunction({ overlong: { maxLength: 100, cacheLength: 50, factor: 0.5 } });
  close(score(rf, 'x', '1', 75).reward, -0.25);
  close(overlongPenalty(100, 100, 0), 0);
  close(overlongPenalty(101, 100, 0), -1);
});

test('invalid options: errors name the option path', () => {
  assert.throws(
    () => new BoxedAccuracyRewardFunction({ overlong: { maxLength: 100, cacheLength: 200 } }),
    /options\.overlong\.cacheLength \(200\) must be ≤ options\.overlong\.maxLength \(100\)/,
  );
  assert.throws(() => new BoxedAccuracyRewardFunction({ formatWeight: 1.5 }), /options\.formatWeight/);
  assert.throws(() => new BoxedAccuracyRewardFunction({ formatWeight: -0.1 }), /options\.formatWeight/);
  assert.throws(
    () => new BoxedAccuracyRewardFunction({ format: 'answer-tags' as never }),
    /options\.format must be one of description-think-boxed, think-boxed/,
  );
  assert.throws(() => new BoxedAccuracyRewardFunction({ overlong: { maxLength: 0, cacheLength: 0 } }), /maxLength/);
  assert.throws(() => overlongPenalty(10, 5, 6), /cacheLength/);
});

test('strategy definition: kind, name, schema defaults through ajv (useDefaults, strict), create', async () => {
  assert.equal(boxedAccuracyReward.kind, 'reward-function');
  assert.equal(boxedAccuracyReward.name, 'boxed-accuracy');
  assert.equal(boxedAccuracyReward.optionsSchema, BoxedAccuracyOptions);
  assert.ok(boxedAccuracyReward.docs.summary.length > 0);

  const ajv = new Ajv({ strict: true, useDefaults: true, allErrors: true });
  const validate = ajv.compile(BoxedAccuracyOptions);
  const options: Record<string, unknown> = {};
  assert.equal(validate(options), true);
  assert.deepEqual(options, { formatWeight: 0, format: 'description-think-boxed' });

  const withOverlong: Record<string, unknown> = { overlong: { maxLength: 20480, cacheLength: 4096 } };
  assert.equal(validate(withOverlong), true);
  assert.deepEqual(withOverlong['overlong'], { maxLength: 20480, cacheLength: 4096, factor: 1 });

  assert.equal(validate({ formatWeight: 2 }), false);
  assert.equal(validate({ format: 'other' }), false);
  assert.equal(validate({ extra: 1 }), false);
  assert.equal(validate({ overlong: { maxLength: 10 } }), false);

  const rf = await boxedAccuracyReward.create(
    { formatWeight: 0.1, format: 'think-boxed', overlong: { maxLength: 20480, cacheLength: 4096, factor: 1 } },
    { container: undefined as never, seed: 1, baseDir: '.' },
  );
  assert.ok(rf instanceof BoxedAccuracyRewardFunction);
  close(rf.score({ response: THINK_OK, answer: '4', responseLength: 18432 }).reward, 0.5);
});

test('registers in the StrategyRegistry (strict schema check) as reward-function/boxed-accuracy', () => {
  const registry = new StrategyRegistry().use(
    definePlugin({
      meta: { name: 'test-plugin', version: '0.0.0', namespace: '', apiVersion: `^${PLUGIN_API_VERSION}` },
      strategies: [boxedAccuracyReward],
    }),
  );
  assert.equal(registry.get('reward-function', 'boxed-accuracy').definition, boxedAccuracyReward);
});
