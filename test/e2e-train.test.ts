import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mmrl, ROOT } from './helpers.js';

test('mmrl demo on tiny settings: SFT, 3 RL steps, evaluation, checkpoint', () => {
  const out = mkdtempSync(join(tmpdir(), 'mmrl-e2e-'));
  const r = mmrl(['demo', join(ROOT, 'test/fixtures/tiny.yaml'), '--out', out, '--name', 'run', '--quiet']);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const runDir = join(out, 'run');
  const rows = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const rl = rows.filter((m) => m.phase === 'rl');
  assert.equal(rl.length, 3);
  for (const m of rl) {
    assert.equal(m.trajectories, 8); // 2 prompts × 4 samples
    assert.ok(Number.isFinite(m.loss) && Number.isFinite(m.grad_norm) && Number.isFinite(m.kl));
    assert.ok(m.reward_mean >= 0 && m.reward_mean <= 1);
  }
  assert.equal(rows.filter((m) => m.phase === 'sft').length, 3);
  const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8'));
  assert.equal(summary.beforeRl.prompts, 8);
  assert.equal(summary.afterRl.blindBaseline, 1 / 3);
  assert.ok(existsSync(join(runDir, 'checkpoint', 'policy', 'manifest.json')));
  const state = JSON.parse(readFileSync(join(runDir, 'checkpoint', 'state.json'), 'utf8'));
  assert.equal(state.step, 3);
  assert.ok(existsSync(join(runDir, 'checkpoint', 'optimizer', 'weights.bin')));
  const resolved = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8'));
  assert.equal(resolved.config.trainer.objective.options.clipLow, 0.2); // defaults recorded
  // The final checkpoint evaluates to the same accuracy as the run reported.
  const ev = mmrl(['eval', join(ROOT, 'test/fixtures/tiny.yaml'), '--checkpoint', join(runDir, 'checkpoint'), '--out', out, '--name', 'eval', '--json']);
  assert.equal(ev.status, 0, ev.stderr);
  assert.equal(JSON.parse(ev.stdout.trim().split('\n').pop()!).accuracy, summary.afterRl.accuracy);
});
