import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, logSoftmaxRow, sampleToken } from '../../src/index.js';

const logits = Float32Array.from([0, 2, 1, -1, 3, 0.5]);

test('logSoftmaxRow normalises a row at a temperature', () => {
  for (const temperature of [1, 0.5, 2]) {
    const lp = logSoftmaxRow(logits, 1, 4, temperature); // row [2, 1, -1, 3]
    const total = Array.from(lp).reduce((s, x) => s + Math.exp(x), 0);
    assert.ok(Math.abs(total - 1) < 1e-12, `sums to ${total}`);
    assert.ok(Math.abs(lp[3]! - lp[0]! - 1 / temperature) < 1e-9, 'differences scale with 1/temperature');
  }
});

test('greedy takes the arg-max (lowest id on ties) and reports the temperature-1 logprob', () => {
  const rng = new Rng(1);
  const s = sampleToken(logits, 0, 6, { greedy: true, temperature: 0.3, topP: 0.5 }, rng);
  assert.equal(s.token, 4);
  assert.ok(Math.abs(s.logprob - logSoftmaxRow(logits, 0, 6, 1)[4]!) < 1e-12);
  assert.equal(sampleToken(Float32Array.from([1, 5, 5]), 0, 3, { greedy: true, temperature: 1, topP: 1 }, rng).token, 1);
});

test('sampling follows the softmax at the temperature and is deterministic per seed', () => {
  const opts = { greedy: false, temperature: 0.7, topP: 1 };
  const draw = (seed: number) => {
    const rng = new Rng(seed);
    return Array.from({ length: 4000 }, () => sampleToken(logits, 0, 6, opts, rng));
  };
  const a = draw(3);
  assert.deepEqual(a.map((s) => s.token), draw(3).map((s) => s.token));
  assert.notDeepEqual(a.map((s) => s.token).slice(0, 50), draw(4).map((s) => s.token).slice(0, 50));
  const p = Array.from(logSoftmaxRow(logits, 0, 6, 0.7), Math.exp);
  const counts = new Array(6).fill(0);
  for (const s of a) {
    counts[s.token]++;
    assert.ok(Math.abs(s.logprob - Math.log(p[s.token]!)) < 1e-9, 'logprob at the temperature');
  }
  counts.forEach((c, i) => assert.ok(Math.abs(c / a.length - p[i]!) < 0.03, `token ${i}: ${c / a.length} vs ${p[i]}`));
});

test('top-p samples only inside the nucleus but reports the full-vocabulary logprob', () => {
  // Probabilities at T=1 of [3, 2, 1, …]: token 4 ≈ 0.56, token 1 ≈ 0.21 → nucleus {4, 1} for topP 0.7.
  const rng = new Rng(5);
  const full = logSoftmaxRow(logits, 0, 6, 1);
  const seen = new Set<number>();
  for (let i = 0; i < 500; i++) {
    const s = sampleToken(logits, 0, 6, { greedy: false, temperature: 1, topP: 0.7 }, rng);
    seen.add(s.token);
    assert.ok(Math.abs(s.logprob - full[s.token]!) < 1e-12);
  }
  assert.deepEqual([...seen].sort(), [1, 4]);
  assert.throws(() => sampleToken(logits, 0, 6, { greedy: false, temperature: 0, topP: 1 }, rng), /temperature/);
  assert.throws(() => sampleToken(logits, 0, 6, { greedy: false, temperature: 1, topP: 0 }, rng), /topP/);
});
