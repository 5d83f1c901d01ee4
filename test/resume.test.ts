// `mmrl train <config> --resume <run-dir>` continues from the training checkpoint and appends to the same
// metrics.jsonl; on CPU with the same seed the rows equal an uninterrupted run's, wall-clock fields aside.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { mmrl, ROOT } from './helpers.js';

const WALL_CLOCK = ['rollout_s', 'prepare_s', 'weighters_s', 'update_s', 'eval_s', 'step_s'];

function config(dir: string, steps: number): string {
  const c = parseYaml(readFileSync(join(ROOT, 'test/fixtures/tiny.yaml'), 'utf8'));
  c.trainer.steps = steps;
  c.trainer.checkpointEvery = 2;
  c.trainer.maxResponseTokens = 8; // short rollouts keep the test fast
  c.eval.prompts = 4;
  const file = join(dir, `steps-${steps}.json`);
  writeFileSync(file, JSON.stringify(c));
  return file;
}

function rows(runDir: string): Record<string, unknown>[] {
  return readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !WALL_CLOCK.includes(k))));
}

test('train 4 steps straight = train 2 steps, then --resume to 4 (metrics rows, final weights, evaluation)', () => {
  const out = mkdtempSync(join(tmpdir(), 'mmrl-resume-'));
  const four = config(out, 4);
  const straight = mmrl(['train', four, '--out', out, '--name', 'straight', '--quiet']);
  assert.equal(straight.status, 0, straight.stderr + straight.stdout);

  const first = mmrl(['train', config(out, 2), '--out', out, '--name', 'resumed', '--quiet']);
  assert.equal(first.status, 0, first.stderr + first.stdout);
  const runDir = join(out, 'resumed');
  assert.equal(JSON.parse(readFileSync(join(runDir, 'checkpoint', 'state.json'), 'utf8')).step, 2);
  // The KL term's reference (the starting policy) is part of the checkpoint.
  assert.ok(existsSync(join(runDir, 'checkpoint', 'reference', 'manifest.json')));
  // Rows a crashed run wrote after its last checkpoint are dropped on resume, not duplicated.
  appendFileSync(join(runDir, 'metrics.jsonl'), `${JSON.stringify({ phase: 'rl', step: 2, reward_mean: 42 })}\n`);

  const resumed = mmrl(['train', four, '--resume', runDir, '--quiet']);
  assert.equal(resumed.status, 0, resumed.stderr + resumed.stdout);
  assert.doesNotMatch(resumed.stderr, /warning/);

  const a = rows(join(out, 'straight'));
  const b = rows(runDir);
  assert.deepEqual(
    b.filter((r) => r['phase'] === 'rl').map((r) => r['step']),
    [0, 1, 2, 3],
  );
  // Every row, RL and evaluations before and after RL, is identical.
  assert.deepEqual(b, a);
  for (const part of ['policy', 'optimizer', 'reference']) {
    const wa = readFileSync(join(out, 'straight', 'checkpoint', part, 'weights.bin'));
    const wb = readFileSync(join(runDir, 'checkpoint', part, 'weights.bin'));
    assert.ok(wa.equals(wb), `final ${part} weights differ`);
  }
  const sa = JSON.parse(readFileSync(join(out, 'straight', 'summary.json'), 'utf8'));
  const sb = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8'));
  assert.equal(sb.resumedAtStep, 2);
  assert.equal(sb.rl.startStep, 2);
  assert.deepEqual(sb.afterRl, sa.afterRl);
  assert.deepEqual(sb.beforeRl, sa.beforeRl);
  assert.equal(sb.rl.lastReward, sa.rl.lastReward);

  // Resuming a run whose checkpoint is missing names the path.
  const missing = mmrl(['train', four, '--resume', join(out, 'nothing-here'), '--quiet']);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /nothing-here.*state\.json/);
});
