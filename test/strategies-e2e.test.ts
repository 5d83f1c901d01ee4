/**
 * Every built-in strategy runs 2 RL steps end to end on the tiny config (issue 5), alone and in the TGRL + VGPO +
 * Δlog p composition; a combination whose `requires` nothing provides is refused before any training.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import {
  ADVANTAGE_ESTIMATOR,
  MetricsWriter,
  POLICY,
  RlTrainer,
  StrategyRegistry,
  TASK,
  TRAJECTORY_SOURCE,
  createRunContainer,
  definePlugin,
  defineStrategy,
  initBackend,
  loadConfigFile,
  validateConfig,
  type ResolvedConfig,
  type RewardFunction,
  type Slot,
} from '@mmrl/core';
import builtins, { IvrRectificationSource, ReinforcePpAdvantageEstimator, readExpertFile } from '@mmrl/plugins';
import { mmrl, ROOT } from './helpers.js';

/** A reward that is right for about half of all texts (a hash parity), so that an untrained policy's rollouts fail
 * and some of its rectifications succeed: the IVR-R1 path is exercised without a trained model. */
const coin = defineStrategy({
  kind: 'reward-function',
  name: 'coin',
  optionsSchema: Type.Object({}, { additionalProperties: false }),
  docs: { summary: 'test reward: hash parity of the text' },
  create: (): RewardFunction => ({
    score: ({ response }) => {
      const accuracy = createHash('sha256').update(response).digest()[0]! % 2;
      return { reward: accuracy, accuracy, format: 1 };
    },
  }),
});
const testPlugin = definePlugin({
  meta: { name: 'e2e-test', version: '0.0.0', namespace: 'test', apiVersion: '^1.0.0' },
  strategies: [coin],
});

const registry = new StrategyRegistry().use(builtins).use(testPlugin);
const tmp = mkdtempSync(join(tmpdir(), 'mmrl-strategies-'));
let base: ResolvedConfig;
let baseDir: string;
const expertDir = join(tmp, 'expert');

before(async () => {
  await initBackend('wasm');
  ({ config: base, baseDir } = await loadConfigFile(registry, join(ROOT, 'test/fixtures/tiny.yaml')));
  // A tiny "expert": another seed of the tiny architecture, saved as a vlm checkpoint.
  const c = await createRunContainer(registry, { ...structuredClone(base), seed: 99 }, { baseDir, kinds: ['task', 'policy'] });
  await c.resolve(POLICY).save(expertDir);
});

interface Variant {
  sources?: Slot[];
  advantage?: Slot;
  weighters?: Slot[];
  objective?: Slot;
  reward?: Slot;
}

/** Trains 2 steps with the tiny config modified by `v`; returns the RL metrics rows. */
async function train(v: Variant): Promise<Record<string, number>[]> {
  const raw = structuredClone(base) as ResolvedConfig;
  raw.trainer.steps = 2;
  raw.trainer.objective = v.objective ?? { name: 'ppo-clip', options: {} };
  if (v.sources) raw.trainer.sources = v.sources;
  if (v.advantage) raw.trainer.advantage = v.advantage;
  raw.trainer.weighters = v.weighters ?? [];
  if (v.reward) raw.reward = v.reward;
  const config = validateConfig(registry, JSON.parse(JSON.stringify(raw)));
  const container = await createRunContainer(registry, config, { baseDir });
  const rows: Record<string, number>[] = [];
  const summary = await new RlTrainer(container, {
    metrics: { write: (r: Record<string, number>) => rows.push(r) } as unknown as MetricsWriter,
  }).train();
  assert.equal(summary.steps, 2);
  const rl = rows.filter((r) => (r['phase'] as unknown) === 'rl');
  assert.equal(rl.length, 2);
  for (const r of rl) assert.ok(Number.isFinite(r['loss']) && Number.isFinite(r['grad_norm']), JSON.stringify(r));
  return rl;
}

const expert = (options: Record<string, unknown> = {}): Slot[] => [
  { name: 'on-policy', options: { samples: 3 } },
  { name: 'expert', options: { checkpoint: expertDir, ...options } },
];

for (const name of ['grpo', 'dr-grpo', 'rloo', 'reinforce-pp', 'reinforce-pp-baseline', 'durian']) {
  test(`advantage-estimator ${name}: 2 steps`, async () => {
    const rows = await train({ advantage: { name, options: {} } });
    // Durian's buckets are logged every step (the estimator's stepMetrics); the others log none.
    for (const r of rows) {
      if (name === 'durian') {
        for (const k of ['durian_entropy_iqr', 'durian_perc_std_s1', 'durian_group_std_mean', 'durian_change']) {
          assert.ok(Number.isFinite(r[k]), `${k} in ${JSON.stringify(r)}`);
        }
      } else {
        assert.ok(!Object.keys(r).some((k) => k.startsWith('durian_')));
      }
    }
  });
}

test('advantage-estimator reinforce-pp with KL in the reward: the trainer keeps a reference and passes ℓref', async () => {
  const raw = structuredClone(base) as ResolvedConfig;
  raw.trainer.steps = 2;
  raw.trainer.objective = { name: 'ppo-clip', options: {} }; // no KL loss: only the estimator needs the reference
  raw.trainer.advantage = { name: 'reinforce-pp', options: { klCoefficient: 0.05 } };
  raw.trainer.weighters = [];
  raw.reward = { name: 'test/coin', options: {} }; // mixed rewards, so that step 0 updates the policy
  const config = validateConfig(registry, JSON.parse(JSON.stringify(raw)));
  const container = await createRunContainer(registry, config, { baseDir });
  const rows: Record<string, number>[] = [];
  await new RlTrainer(container, { metrics: { write: (r: Record<string, number>) => rows.push(r) } as unknown as MetricsWriter }).train();
  assert.equal(rows.filter((r) => (r['phase'] as unknown) === 'rl').length, 2);
  const est = container.resolve(ADVANTAGE_ESTIMATOR) as ReinforcePpAdvantageEstimator;
  assert.equal(est.needsReference, true);
  // Step 1 ran after one update: ℓold ≠ ℓref somewhere, so k1 and the token rewards moved (ρ = R·1[last] − β·k1).
  const b = est.lastBreakdown!;
  assert.ok(b.kl.some((v) => v !== 0), 'k1 = ℓold − ℓref is non-zero after an update');
  for (let k = 0; k < b.kl.length; k++) assert.ok(Number.isFinite(b.kl[k]!) && Number.isFinite(b.tokenRewards[k]!));
  assert.ok(b.variance >= 0 && b.count > 1);
});

for (const name of ['ppo-clip', 'fipo']) {
  test(`policy-objective ${name}: 2 steps`, async () => {
    await train({ objective: { name, options: {} } });
  });
}

for (const name of ['delta-logp', 'vgpo', 'tor']) {
  test(`token-weighter ${name}: 2 steps`, async () => {
    const rows = await train({ weighters: [{ name, options: {} }] });
    // Each logs what its re-weighting had to act on every step (the weighter's stepMetrics), under its own prefix.
    const expected: Record<string, string[]> = {
      vgpo: ['vgpo_multiplier_mean', 'vgpo_multiplier_sd', 'vgpo_gate_fraction', 'vgpo_intra_sd', 'vgpo_inter_sd'],
      tor: ['tor_tokens', 'tor_entropy_mean', 'tor_image_dependence_mean', 'tor_overlap_fraction', 'tor_zero_fraction'],
      'delta-logp': ['dlogp_prob_mean', 'dlogp_low_prob_fraction', 'dlogp_weight_mean', 'dlogp_weight_sd'],
    };
    const prefixes = ['vgpo_', 'tor_', 'dlogp_'];
    for (const r of rows) {
      for (const k of expected[name]!) assert.ok(Number.isFinite(r[k]), `${k} in ${JSON.stringify(r)}`);
      const own = expected[name]![0]!.split('_')[0]! + '_';
      assert.deepEqual(Object.keys(r).filter((k) => prefixes.some((p) => k.startsWith(p)) && !k.startsWith(own)), [], 'no other weighter\'s metrics');
      if (name === 'vgpo') assert.ok(r['vgpo_gate_fraction']! > 0 && r['vgpo_gate_fraction']! <= 1);
      if (name === 'tor') assert.ok(r['tor_tokens']! > 0 && r['tor_zero_fraction']! >= 0 && r['tor_zero_fraction']! < 1);
      if (name === 'delta-logp') assert.ok(r['dlogp_weight_mean']! >= 1 && r['dlogp_weight_mean']! <= 1.2);
    }
  });
}

test('trajectory-source on-policy: 2 steps', async () => {
  await train({ sources: [{ name: 'on-policy', options: { samples: 4 } }] });
});

test('trajectory-source expert (in process) + token-weighter tgrl: mixed groups of 3 on-policy + 1 expert', async () => {
  const rows = await train({ sources: expert(), weighters: [{ name: 'tgrl', options: {} }] });
  for (const r of rows) {
    assert.equal(r['trajectories'], 8); // 2 prompts × (3 + 1)
    assert.equal(r['expert_trajectories'], 2);
    assert.equal(r['on_trajectories'], 6);
  }
});

test('TGRL + VGPO + Δlog p together (ppo-clip, then fipo): 2 steps', async () => {
  const weighters = [
    { name: 'tgrl', options: { beta: 14 } },
    { name: 'vgpo', options: {} },
    { name: 'delta-logp', options: {} },
  ];
  await train({ sources: expert(), weighters });
  await train({ sources: expert(), weighters, objective: { name: 'fipo', options: {} } });
});

test('mmrl expert-generate writes a validated JSONL file; the expert source trains from it', async () => {
  const config = join(tmp, 'tgrl-file.yaml');
  const out = join(tmp, 'expert.jsonl');
  writeFileSync(
    config,
    readFileSync(join(ROOT, 'test/fixtures/tiny.yaml'), 'utf8').replace(
      'sources: [{ name: on-policy, options: { samples: 4 } }]',
      `sources: [{ name: on-policy, options: { samples: 3 } }, { name: expert, options: { checkpoint: ${JSON.stringify(expertDir)}, samples: 2 } }]\n  weighters: [{ name: tgrl }]`,
    ),
  );
  const r = mmrl(['expert-generate', config, '--out', out, '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  const file = await readExpertFile(out, (await createRunContainer(registry, base, { baseDir, kinds: ['task', 'policy'] })).resolve(POLICY).tokenizer.vocab);
  assert.equal(file.count, 16 * 2); // trainer.trainPrompts × samples
  assert.equal(file.byPrompt.size, 16);
  const rows = await train({
    sources: [
      { name: 'on-policy', options: { samples: 3 } },
      { name: 'expert', options: { file: out, samples: 1 } },
    ],
    weighters: [{ name: 'tgrl', options: {} }],
  });
  assert.equal(rows[0]!['expert_trajectories'], 2);
});

test('trajectory-source ivr-rectification + token-weighter ivr-shaping: rectified members join their groups', async () => {
  const raw = structuredClone(base) as ResolvedConfig;
  raw.reward = { name: 'test/coin', options: {} };
  raw.trainer.sources = [{ name: 'ivr-rectification', options: { samples: 4, rectifiedPerGroup: 2 } }];
  const config = validateConfig(registry, JSON.parse(JSON.stringify(raw)));
  const container = await createRunContainer(registry, config, { baseDir });
  const source = container.resolveAll(TRAJECTORY_SOURCE)[0] as IvrRectificationSource;
  const rows = await train({
    reward: { name: 'test/coin', options: {} },
    sources: [{ name: 'ivr-rectification', options: { samples: 4, rectifiedPerGroup: 2 } }],
    weighters: [{ name: 'ivr-shaping', options: {} }],
  });
  const rectified = rows.reduce((a, r) => a + (r['rectified_trajectories'] ?? 0), 0);
  assert.ok(rectified > 0, `no rectification kept in 2 steps: ${JSON.stringify(rows)}`);
  for (const r of rows) assert.ok(r['trajectories']! >= 8 && r['trajectories']! <= 8 + 2 * 2);
  // The source's counts reach the metrics rows: what it kept is what joined the groups.
  for (const r of rows) {
    assert.equal(r['ivr_kept'], r['rectified_trajectories'] ?? 0, JSON.stringify(r));
    assert.ok(r['ivr_attempted']! <= r['ivr_flagged']! && r['ivr_kept']! <= r['ivr_rectifications']!);
  }
  // The source's own bookkeeping: K ≤ 2 per group attempted, at most 3 rounds.
  const policy = container.resolve(POLICY);
  const task = container.resolve(TASK);
  await source.collect(task.prompts('train', 3, 1), { policy, step: 0, seed: 5 });
  assert.ok(source.lastStats.attempted <= 3 * 2 && source.lastStats.attempted <= source.lastStats.flagged);
  assert.ok(source.lastStats.perRound.length <= 3);
  assert.ok(source.lastStats.kept <= source.lastStats.attempted);
});

test('a combination whose requires nothing provides is refused before training, naming strategy and input', async () => {
  const raw = structuredClone(base) as ResolvedConfig;
  raw.trainer.weighters = [{ name: 'tgrl', options: {} }];
  await assert.rejects(
    createRunContainer(registry, validateConfig(registry, JSON.parse(JSON.stringify(raw))), { baseDir }),
    /token-weighter "tgrl" \(\/trainer\/weighters\/0\) requires "expertLogprobs", which nothing in this run provides/,
  );
  raw.trainer.weighters = [{ name: 'ivr-shaping', options: {} }];
  await assert.rejects(
    createRunContainer(registry, validateConfig(registry, JSON.parse(JSON.stringify(raw))), { baseDir }),
    /"ivr-shaping" .* requires "rectifiedTrajectories"/,
  );
});

test('mmrl eval --extrapolate-base: Δlog p test-time extrapolation reported beside the plain pass@1', () => {
  const r = mmrl(['eval', join(ROOT, 'test/fixtures/tiny.yaml'), '--out', tmp, '--name', 'extrapolate', '--json', '--extrapolate-base', expertDir, '--extrapolate-alpha', '0.1', '--extrapolate-tau', '100']);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(out.extrapolated.prompts, out.prompts);
  assert.equal(out.extrapolated.alpha, 0.1);
  assert.equal(out.extrapolated.extrapolatedFraction, 1); // τ = 100: every position
  const bad = mmrl(['eval', join(ROOT, 'test/fixtures/tiny.yaml'), '--out', tmp, '--name', 'x', '--extrapolate-base', expertDir, '--extrapolate-top-k', '0']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--extrapolate-top-k: invalid value "0"/);
});
