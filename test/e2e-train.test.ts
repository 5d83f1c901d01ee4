import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  ADVANTAGE_ESTIMATOR,
  POLICY,
  MetricsWriter,
  REWARD_FUNCTION,
  RlTrainer,
  StrategyRegistry,
  createRunContainer,
  MmrlConfigError,
  initBackend,
  loadConfigFile,
  type AdvantageInput,
  type ResolvedConfig,
} from '@mmrl/core';
import builtins from '@mmrl/plugins';
import { mmrl, ROOT } from './helpers.js';

/** FNV-1a of a response: the deterministic stand-in rewards below (the untrained tiny policy is never right). */
function fnv1a(s: string): number {
  let h = 2166136261;
  for (const c of s) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return h;
}

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
  const sampled = mmrl(['eval', join(ROOT, 'test/fixtures/tiny.yaml'), '--checkpoint', join(runDir, 'checkpoint'), '--out', out, '--name', 'eval-k', '--json', '--samples', '4']);
  assert.equal(sampled.status, 0, sampled.stderr);
  const k = JSON.parse(sampled.stdout.trim().split('\n').pop()!);
  assert.deepEqual(Object.keys(k.passAtK), ['pass@1', 'pass@4']); // eval.passK [1, 4, 8] limited to n = 4
  assert.ok(k.passAtK['pass@1'] <= k.passAtK['pass@4']);
  assert.equal(k.passAtK['pass@1'], k.sampleAccuracy);
});

test('trainer.lrSchedule on the tiny config: the rate each RL step used is the schedule\'s, and an update at rate 0 moves nothing', async () => {
  await initBackend('wasm');
  const registry = new StrategyRegistry().use(builtins);
  const { config, baseDir } = await loadConfigFile(registry, join(ROOT, 'test/fixtures/tiny.yaml'));
  config.trainer.steps = 3;
  config.trainer.maxResponseTokens = 8;
  config.trainer.learningRate = 4e-3;
  config.trainer.lrSchedule = { name: 'cosine', warmupSteps: 0, minRatio: 0 };
  const container = await createRunContainer(registry, config, { baseDir });
  // A deterministic stand-in reward (the untrained policy is never right): non-zero advantages at every step.
  const reward = (text: string) => fnv1a(text) % 2;
  container.register(REWARD_FUNCTION, {
    useValue: { score: ({ response }: { response: string }) => ({ reward: reward(response), accuracy: reward(response), format: 0 }) },
  });
  const policy = container.resolve(POLICY);
  const snapshots: Float32Array[][] = [];
  // Weights after each step, read by a metrics writer that sees every row as the step ends.
  const file = join(mkdtempSync(join(tmpdir(), 'mmrl-lr-')), 'metrics.jsonl');
  const writer = new MetricsWriter(file);
  const write = writer.write.bind(writer);
  writer.write = (row) => {
    snapshots.push(policy.trainableVariables.map((v) => v.dataSync() as Float32Array).map((a) => a.slice()));
    write(row);
  };
  const before = policy.trainableVariables.map((v) => (v.dataSync() as Float32Array).slice());
  await new RlTrainer(container, { metrics: writer }).train();
  const rl = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  // 3 steps, cosine from 4e-3 to 0: p = 0, 1/2, 1 → 4e-3, 2e-3, 0.
  assert.deepEqual(rl.map((m) => m.learning_rate), [4e-3, 2e-3, 0]);
  const moved = (a: Float32Array[], b: Float32Array[]) => a.some((x, i) => x.some((v, j) => v !== b[i]![j]));
  assert.ok(moved(before, snapshots[0]!), 'step 0 (rate 4e-3) left the weights unchanged');
  assert.ok(!moved(snapshots[1]!, snapshots[2]!), 'step 2 (rate 0) changed the weights');
});

test('DAPO dynamic sampling on the tiny config: only mixed groups reach the advantage estimator, batch always full', async () => {
  await initBackend('wasm');
  const registry = new StrategyRegistry().use(builtins);
  const build = async (reward: (text: string) => number, maxRounds: number) => {
    const { config, baseDir } = await loadConfigFile(registry, join(ROOT, 'test/fixtures/tiny.yaml'));
    config.trainer.steps = 3;
    config.trainer.maxResponseTokens = 8;
    config.trainer.dynamicSampling = { enabled: true, metric: 'accuracy', low: 0.01, high: 0.99, maxRounds };
    config.trainer.microBatchSize = 3; // gradient accumulation over uneven micro-batches (4 rows per mini-batch)
    const container = await createRunContainer(registry, config, { baseDir });
    // A deterministic stand-in reward: right for about a quarter of the (random) responses of the untrained policy.
    container.register(REWARD_FUNCTION, {
      useValue: { score: ({ response }: { response: string }) => ({ reward: reward(response), accuracy: reward(response), format: 0 }) },
    });
    const inner = container.resolve(ADVANTAGE_ESTIMATOR);
    const seen: { rewards: number[]; groups: number[] }[] = [];
    container.register(ADVANTAGE_ESTIMATOR, {
      useValue: {
        compute: (input: AdvantageInput) => {
          seen.push({ rewards: Array.from(input.rewards), groups: Array.from(input.groupIndex) });
          return inner.compute(input);
        },
      },
    });
    return { container, seen };
  };
  const { container, seen } = await build((text) => (fnv1a(text) % 4 === 0 ? 1 : 0), 20);
  const file = join(mkdtempSync(join(tmpdir(), 'mmrl-dapo-')), 'metrics.jsonl');
  await new RlTrainer(container, { metrics: new MetricsWriter(file) }).train();
  const estimated = seen.slice();
  // A second run on the same container (kernels warm) leaves no tensor behind.
  const tensors = tf.memory().numTensors;
  await new RlTrainer(container, { metrics: new MetricsWriter(null) }).train();
  assert.equal(tf.memory().numTensors, tensors, 'dynamic sampling / micro-batching leaked tensors');
  const rl = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rl.length, 3);
  for (const m of rl) {
    assert.equal(m.kept_groups, 2);
    assert.equal(m.trajectories, 8); // exactly promptsPerStep groups × 4 samples, surplus kept groups cut
    assert.ok(m.sampling_rounds >= 1 && m.filtered_groups >= 0);
    assert.ok(m.sampled_accuracy_mean >= 0 && m.sampled_accuracy_mean <= 1);
  }
  assert.ok(rl.some((m) => m.filtered_groups > 0 && m.sampling_rounds > 1), JSON.stringify(rl)); // the filter did work
  assert.equal(estimated.length, 3);
  for (const { rewards, groups } of estimated) {
    for (const g of new Set(groups)) {
      const members = rewards.filter((_, i) => groups[i] === g);
      const mean = members.reduce((a, b) => a + b, 0) / members.length;
      assert.ok(mean > 0.01 && mean < 0.99, `group ${g} with mean accuracy ${mean} reached the estimator`);
    }
  }
  // Nothing ever kept: a clear error after maxRounds rounds.
  const never = await build(() => 0, 2);
  await assert.rejects(
    new RlTrainer(never.container, { metrics: new MetricsWriter(null) }).train(),
    /only 0 of 2 groups kept after trainer\.dynamicSampling\.maxRounds = 2 rounds/,
  );
  assert.equal(tf.memory().numTensors, tensors + never.container.resolve(POLICY).trainableVariables.length, 'the failed run leaked tensors');
});

test('dynamic sampling rule not-all-equal on the tiny config: groups with differing accuracies only; low/high unused', async () => {
  await initBackend('wasm');
  const registry = new StrategyRegistry().use(builtins);
  const build = async (dynamicSampling: ResolvedConfig['trainer']['dynamicSampling']) => {
    const { config, baseDir } = await loadConfigFile(registry, join(ROOT, 'test/fixtures/tiny.yaml'));
    config.trainer.steps = 2;
    config.trainer.maxResponseTokens = 8;
    config.trainer.dynamicSampling = dynamicSampling;
    const container = await createRunContainer(registry, config, { baseDir });
    const reward = (text: string) => (text.length % 3 === 0 ? 1 : 0); // deterministic, mixed on random responses
    container.register(REWARD_FUNCTION, {
      useValue: { score: ({ response }: { response: string }) => ({ reward: reward(response), accuracy: reward(response), format: 0 }) },
    });
    const inner = container.resolve(ADVANTAGE_ESTIMATOR);
    const seen: { rewards: number[]; groups: number[] }[] = [];
    container.register(ADVANTAGE_ESTIMATOR, {
      useValue: { compute: (input: AdvantageInput) => (seen.push({ rewards: Array.from(input.rewards), groups: Array.from(input.groupIndex) }), inner.compute(input)) },
    });
    return { container, seen };
  };
  // low = high = 0.5 would keep nothing under the range rule (and is refused there, naming the pointer) …
  const range = await build({ enabled: true, rule: 'range', metric: 'accuracy', low: 0.5, high: 0.5, maxRounds: 20 });
  await assert.rejects(new RlTrainer(range.container, { metrics: new MetricsWriter(null) }).train(), (e: Error) => {
    assert.ok(e instanceof MmrlConfigError, String(e));
    assert.equal(e.issues[0]!.pointer, '/trainer/dynamicSampling/low');
    return true;
  });
  // … and is ignored by not-all-equal, which keeps exactly the groups whose accuracies are not all equal.
  const { container, seen } = await build({ enabled: true, rule: 'not-all-equal', metric: 'accuracy', low: 0.5, high: 0.5, maxRounds: 20 });
  const rows: Record<string, unknown>[] = [];
  await new RlTrainer(container, { metrics: { write: (r: Record<string, unknown>) => rows.push(r) } as unknown as MetricsWriter }).train();
  assert.equal(rows.length, 2);
  for (const m of rows) assert.equal(m['kept_groups'], 2);
  assert.equal(seen.length, 2);
  for (const { rewards, groups } of seen) {
    for (const g of new Set(groups)) {
      const members = rewards.filter((_, i) => groups[i] === g);
      assert.ok(new Set(members).size > 1, `group ${g} with accuracies ${JSON.stringify(members)} reached the estimator`);
    }
  }
});
