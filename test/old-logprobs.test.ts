/**
 * `trainer.oldLogprobs: rollout`: on-policy rows take the sampler's recorded logprobs as log πθold instead of a
 * forward pass, other sources' rows are still forwarded, and every row is when a weighter asks the forward for more
 * than logprobs. The values equal the recomputed ones up to float rounding (same seed, same rollouts at step 0).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ADVANTAGE_ESTIMATOR,
  MetricsWriter,
  POLICY,
  RlTrainer,
  StrategyRegistry,
  createRunContainer,
  initBackend,
  loadConfigFile,
  validateConfig,
  type AdvantageInput,
  type ResolvedConfig,
  type Slot,
} from '@mmrl/core';
import builtins from '@mmrl/plugins';
import { ROOT } from './helpers.js';

const registry = new StrategyRegistry().use(builtins);
const tmp = mkdtempSync(join(tmpdir(), 'mmrl-old-logprobs-'));
const expertDir = join(tmp, 'expert');
let base: ResolvedConfig;
let baseDir: string;

before(async () => {
  await initBackend('wasm');
  ({ config: base, baseDir } = await loadConfigFile(registry, join(ROOT, 'test/fixtures/tiny.yaml')));
  const c = await createRunContainer(registry, { ...structuredClone(base), seed: 99 }, { baseDir, kinds: ['task', 'policy'] });
  await c.resolve(POLICY).save(expertDir);
});

interface StepSeen {
  old: Float32Array;
  mask: Float32Array;
  tokens: number;
}

/** One RL step with the tiny config; returns the metrics row and what the advantage estimator received. */
async function oneStep(
  mode: 'recompute' | 'rollout' | undefined,
  v: { sources?: Slot[]; weighters?: Slot[] } = {},
): Promise<{ row: Record<string, number>; seen: StepSeen }> {
  const raw = structuredClone(base) as ResolvedConfig;
  raw.trainer.steps = 1;
  if (mode) raw.trainer.oldLogprobs = mode;
  if (v.sources) raw.trainer.sources = v.sources;
  raw.trainer.weighters = v.weighters ?? [];
  const config = validateConfig(registry, JSON.parse(JSON.stringify(raw)));
  const container = await createRunContainer(registry, config, { baseDir });
  const inner = container.resolve(ADVANTAGE_ESTIMATOR);
  let seen: StepSeen | undefined;
  container.register(ADVANTAGE_ESTIMATOR, {
    useValue: {
      compute: (input: AdvantageInput) => {
        seen = { old: Float32Array.from(input.oldLogprobs!), mask: Float32Array.from(input.mask), tokens: input.tokens };
        return inner.compute(input);
      },
    },
  });
  const rows: Record<string, number>[] = [];
  await new RlTrainer(container, {
    metrics: { write: (r: Record<string, number>) => rows.push(r) } as unknown as MetricsWriter,
  }).train();
  const row = rows.find((r) => (r['phase'] as unknown) === 'rl')!;
  assert.ok(Number.isFinite(row['loss']) && Number.isFinite(row['grad_norm']), JSON.stringify(row));
  return { row, seen: seen! };
}

/** Largest |a − b| over the response tokens (mask 1), and how many tokens were compared. */
function maxMaskedDiff(a: StepSeen, b: StepSeen): { max: number; count: number } {
  assert.equal(a.tokens, b.tokens);
  assert.deepEqual(Array.from(a.mask), Array.from(b.mask), 'same rollouts at step 0');
  let max = 0;
  let count = 0;
  for (let k = 0; k < a.old.length; k++) {
    if (a.mask[k] === 0) continue;
    max = Math.max(max, Math.abs(a.old[k]! - b.old[k]!));
    count++;
  }
  return { max, count };
}

test('schema: oldLogprobs accepts recompute and rollout and names the place of anything else', () => {
  const raw = JSON.parse(JSON.stringify(base)) as ResolvedConfig;
  (raw.trainer as Record<string, unknown>)['oldLogprobs'] = 'sampler';
  assert.throws(() => validateConfig(registry, raw), /\/trainer\/oldLogprobs/);
  // Absent stays absent (no default), so configs written before the option keep their ablation hash.
  const resolved = validateConfig(registry, JSON.parse(JSON.stringify(base)));
  assert.equal(resolved.trainer.oldLogprobs, undefined);
});

test('on-policy only: rollout logprobs equal the recomputed forward up to rounding, and no row is forwarded', async () => {
  const recompute = await oneStep(undefined);
  const rollout = await oneStep('rollout');
  assert.equal(recompute.row['old_forward_rows'], undefined, 'the metric is written in rollout mode only');
  assert.equal(rollout.row['old_forward_rows'], 0);
  const { max, count } = maxMaskedDiff(recompute.seen, rollout.seen);
  assert.ok(count > 0);
  assert.ok(max < 1e-4, `max |Δ log πθold| = ${max}`);
  // Padding is 0 in rollout mode; the sampled logprobs are real log-probabilities (≤ 0).
  for (let k = 0; k < rollout.seen.old.length; k++) {
    if (rollout.seen.mask[k] === 0) assert.equal(rollout.seen.old[k], 0);
    else assert.ok(rollout.seen.old[k]! <= 0);
  }
  // Same step, same loss up to rounding: the ratio is 1 in both.
  assert.ok(Math.abs(recompute.row['loss']! - rollout.row['loss']!) < 1e-5, `${recompute.row['loss']} vs ${rollout.row['loss']}`);
  const explicit = await oneStep('recompute');
  assert.equal(explicit.row['old_forward_rows'], undefined);
  assert.deepEqual(Array.from(explicit.seen.old), Array.from(recompute.seen.old), 'recompute is the default');
});

test('with expert rows: only the expert rows are forwarded, and their log πθold is the student forward', async () => {
  const v = {
    sources: [
      { name: 'on-policy', options: { samples: 3 } },
      { name: 'expert', options: { checkpoint: expertDir } },
    ],
    weighters: [{ name: 'tgrl', options: {} }],
  };
  const recompute = await oneStep(undefined, v);
  const rollout = await oneStep('rollout', v);
  assert.equal(rollout.row['expert_trajectories'], 2);
  assert.equal(rollout.row['old_forward_rows'], 2);
  const { max } = maxMaskedDiff(recompute.seen, rollout.seen);
  assert.ok(max < 1e-4, `max |Δ log πθold| = ${max}`);
});

test('a weighter that asks the forward for more than logprobs (ToR) gets every row forwarded', async () => {
  const { row } = await oneStep('rollout', { weighters: [{ name: 'tor', options: {} }] });
  assert.equal(row['old_forward_rows'], row['trajectories']);
});
