/** scripts/visual-focus.mts: VGPO's visual focus and ToR's image dependence by position after the description. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { formatVisualFocus, slope, visualFocus } from '../packages/cli/src/commands/visual-focus.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { mmrl, ROOT } from './helpers.js';

test('slope: the least-squares slope of a line and of a noisy line computed by hand', () => {
  assert.equal(slope([1, 2, 3, 4], [3, 5, 7, 9]), 2);
  // x̄ = 2, ȳ = 2: Σ(x − x̄)(y − ȳ) = (−1)(−1) + 0·(−1) + 1·2 = 3 over Σ(x − x̄)² = 2.
  assert.equal(slope([1, 2, 3], [1, 1, 4]), 1.5);
  assert.ok(Number.isNaN(slope([2, 2], [1, 3])));
});

test('visual focus of the small student: every response token lands in one span, S is a cosine, D is non-negative', async () => {
  const r = await visualFocus(join(ROOT, 'examples/configs/grpo-small.yaml'), { prompts: 8, samples: 2, bin: 5, temperature: 1, seed: 3 });
  assert.equal(r.sampled, 16);
  assert.ok(r.responses > 0 && r.responses <= r.sampled);
  // Every token of an analysed response is in the description, is </description>, or is in a reasoning bin.
  const binned = r.byPosition.reduce((a, b) => a + b.tokens, 0);
  assert.equal(r.description.tokens + r.responses + binned, Math.round(r.meanResponseTokens * r.responses));
  assert.ok(Math.abs(r.meanReasoningTokens * r.responses - binned) < 1e-6);
  for (const b of r.byPosition) {
    assert.equal(b.to - b.from, 4);
    assert.ok(b.meanS >= -1 && b.meanS <= 1, `S ${b.meanS}`);
    assert.ok(b.meanD >= 0, `D ${b.meanD}`);
  }
  assert.ok(Number.isFinite(r.slopeS.mean) && r.slopeS.n > 0);
  assert.ok(r.description.meanS >= -1 && r.description.meanS <= 1);
  const text = formatVisualFocus(r);
  assert.match(text, /\| description \| \d+ \|/);
  assert.match(text, /Slope over reasoning positions/);
});

test('visual focus: bad options are named', async () => {
  await assert.rejects(
    visualFocus(join(ROOT, 'examples/configs/grpo-small.yaml'), { prompts: 0, samples: 2, bin: 5, temperature: 1, seed: 1 }),
    /--prompts must be a positive integer, got 0/,
  );
  await assert.rejects(
    visualFocus(join(ROOT, 'examples/configs/grpo-small.yaml'), { prompts: 2, samples: 2, bin: 5, temperature: 0, seed: 1 }),
    /--temperature must be positive/,
  );
});

test('mmrl visual-focus prints the table and writes the JSON report', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'mmrl-visual-focus-')), 'focus.json');
  const r = mmrl(['visual-focus', join(ROOT, 'examples/configs/grpo-small.yaml'), '--prompts', '4', '--samples', '2', '--json', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\| span \| tokens \| mean S \(VGPO cosine\)/);
  const report = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(report.sampled, 8);
  const bad = mmrl(['visual-focus', join(ROOT, 'examples/configs/grpo-small.yaml'), '--samples', '-1']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--samples must be a positive integer, got -1/);
});
