import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DYNAMIC_SAMPLING_DEFAULTS,
  filterGroups,
  groupByPrompt,
  keepGroup,
  sampleGroups,
  type Prompt,
  type RolloutGroup,
  type ScoredTrajectory,
} from '../../src/index.js';

function prompt(id: string): Prompt {
  return { id, split: 'train', image: new Float32Array(1), imageShape: [1, 1], question: id, answer: '1', meta: {} };
}

function trajectory(p: Prompt, accuracy: number, reward = accuracy): ScoredTrajectory {
  return {
    prompt: p,
    promptTokens: [1],
    responseTokens: [2],
    behaviourLogprobs: new Float32Array(1),
    source: 'on',
    finished: true,
    text: '',
    reward,
    accuracy,
    format: 1,
  };
}

function group(id: string, accuracies: number[], rewards?: number[]): RolloutGroup {
  const p = prompt(id);
  return { uid: id, prompt: p, members: accuracies.map((a, i) => trajectory(p, a, rewards?.[i] ?? a)) };
}

const on = { ...DYNAMIC_SAMPLING_DEFAULTS, enabled: true };

test('fixture F5a: all-correct and all-wrong groups are dropped, mixed groups kept (0.01 < mean < 0.99)', () => {
  const groups = [group('q1', [1, 1, 1, 1]), group('q2', [0, 0, 0, 0]), group('q3', [1, 0, 0, 0]), group('q4', [1, 0, 1, 1])];
  assert.deepEqual(
    groups.map((g) => keepGroup(g, on)),
    [false, false, true, true],
  );
  const { kept, dropped } = filterGroups(groups, on);
  assert.deepEqual(kept.map((g) => g.uid), ['q3', 'q4']);
  assert.deepEqual(dropped.map((g) => g.uid), ['q1', 'q2']);
});

test('the filter reads the configured metric (D-1: accuracy by default; reward on request)', () => {
  // All wrong, but a format reward makes the rewards differ: kept on reward, dropped on accuracy.
  const g = group('q', [0, 0, 0, 0], [0.1, 0, 0.1, 0]);
  assert.equal(keepGroup(g, on), false);
  assert.equal(keepGroup(g, { ...on, metric: 'reward' }), true);
  // Bounds are strict.
  assert.equal(keepGroup(group('q', [1, 0]), { ...on, low: 0.5 }), false);
  assert.equal(keepGroup(group('q', [1, 0]), { ...on, high: 0.5 }), false);
});

test('groupByPrompt joins all sources per prompt, in prompt order', () => {
  const [a, b] = [prompt('a'), prompt('b')];
  const scored = [trajectory(b, 1), trajectory(a, 0), trajectory(a, 1), trajectory(b, 0)];
  const groups = groupByPrompt(scored, [a, b]);
  assert.deepEqual(groups.map((g) => [g.uid, g.members.length]), [['a', 2], ['b', 2]]);
  assert.throws(() => groupByPrompt([trajectory(prompt('c'), 1)], [a]), /prompt "c"/);
});

test('sampleGroups: further rounds until the batch is full, truncated to exactly the target; empty rounds continue', async () => {
  const rounds: RolloutGroup[][] = [
    [group('r0a', [1, 1]), group('r0b', [0, 0]), group('r0c', [1, 0])], // keeps 1
    [group('r1a', [0, 0]), group('r1b', [1, 1]), group('r1c', [0, 0])], // keeps nothing
    [group('r2a', [0, 1]), group('r2b', [1, 1]), group('r2c', [1, 0])], // keeps 2: one too many
  ];
  const asked: number[] = [];
  const out = await sampleGroups(2, on, async (r) => {
    asked.push(r);
    return rounds[r]!;
  });
  assert.deepEqual(asked, [0, 1, 2]);
  assert.deepEqual(out.groups.map((g) => g.uid), ['r0c', 'r2a']);
  assert.equal(out.rounds, 3);
  assert.equal(out.filtered, 2 + 3 + 1);
  assert.equal(out.sampled.length, 18);
});

test('sampleGroups: running out of rounds names trainer.dynamicSampling.maxRounds and the kept count', async () => {
  let calls = 0;
  await assert.rejects(
    sampleGroups(3, { ...on, maxRounds: 4 }, async () => {
      calls++;
      return calls === 2 ? [group('x', [1, 0]), group('y', [0, 0])] : [group('z', [0, 0])];
    }),
    (e: Error) => {
      assert.match(e.message, /trainer\.dynamicSampling\.maxRounds = 4/);
      assert.match(e.message, /only 1 of 3 groups kept/);
      return true;
    },
  );
  assert.equal(calls, 4);
});

test('sampleGroups with dynamic sampling off: one round, every group kept', async () => {
  const groups = [group('a', [1, 1]), group('b', [0, 0])];
  const out = await sampleGroups(2, DYNAMIC_SAMPLING_DEFAULTS, async () => groups);
  assert.deepEqual(out.groups.map((g) => g.uid), ['a', 'b']);
  assert.equal(out.rounds, 1);
  assert.equal(out.filtered, 0);
});

// ---- rule not-all-equal (verl filter_groups; METHODS.md §6.1) -------------------------------------------------------

const nae = { ...on, rule: 'not-all-equal' as const };

test('defaults keep the range rule (EasyR1 0.01 < mean < 0.99)', () => {
  assert.equal(DYNAMIC_SAMPLING_DEFAULTS.rule, 'range');
  // Without a rule the filter is the range rule.
  const { rule: _, ...noRule } = on;
  assert.equal(keepGroup(group('q', [1, 1, 1, 1]), noRule), false);
  assert.equal(keepGroup(group('q', [1, 0, 0, 0]), noRule), true);
});

test('not-all-equal: fixture F5a gives the same verdicts as the range rule for binary accuracy and G < 100', () => {
  // q1 [1,1,1,1] all equal → drop; q2 [0,0,0,0] → drop; q3 [1,0,0,0], q4 [1,0,1,1] → keep.
  const groups = [group('q1', [1, 1, 1, 1]), group('q2', [0, 0, 0, 0]), group('q3', [1, 0, 0, 0]), group('q4', [1, 0, 1, 1])];
  assert.deepEqual(groups.map((g) => keepGroup(g, nae)), [false, false, true, true]);
  assert.deepEqual(filterGroups(groups, nae).kept.map((g) => g.uid), ['q3', 'q4']);
});

test('not-all-equal vs range: the cases where the two rules differ (hand-computed)', () => {
  // G = 200 with one correct: mean 1/200 = 0.005 ≤ 0.01 → range drops; the values are not all equal → kept.
  const rare = group('rare', Array.from({ length: 200 }, (_, i) => (i === 0 ? 1 : 0)));
  assert.equal(keepGroup(rare, on), false);
  assert.equal(keepGroup(rare, nae), true);
  // Rewards [0.1, 0.1, 0.1, 0.1] (all wrong, all well formatted): mean 0.1 ∈ (0.01, 0.99) → range keeps on reward;
  // all equal → not-all-equal drops.
  const flat = group('flat', [0, 0, 0, 0], [0.1, 0.1, 0.1, 0.1]);
  assert.equal(keepGroup(flat, { ...on, metric: 'reward' }), true);
  assert.equal(keepGroup(flat, { ...nae, metric: 'reward' }), false);
  // Rewards [1, 1, 0.9]: mean 0.966667 → range keeps; not all equal → kept too. [1, 1, 1]: both drop.
  assert.equal(keepGroup(group('a', [1, 1, 1], [1, 1, 0.9]), { ...on, metric: 'reward' }), true);
  assert.equal(keepGroup(group('a', [1, 1, 1], [1, 1, 0.9]), { ...nae, metric: 'reward' }), true);
  assert.equal(keepGroup(group('b', [1, 1, 1]), nae), false);
  // A single member is kept (verl keeps len == 1); the range rule reads its mean: [1] → drop, [0.5] → keep.
  assert.equal(keepGroup(group('one', [1]), nae), true);
  assert.equal(keepGroup(group('one', [1]), on), false);
  assert.equal(keepGroup(group('half', [0], [0.5]), { ...on, metric: 'reward' }), true);
  // low and high are not read by not-all-equal (low = high = 0.5 would drop everything under range).
  assert.equal(keepGroup(group('q', [1, 0]), { ...nae, low: 0.5, high: 0.5 }), true);
  assert.equal(keepGroup(group('q', [1, 0]), { ...on, low: 0.5, high: 0.5 }), false);
  // The comparison is exact: values one float apart are not equal.
  assert.equal(keepGroup(group('ulp', [0, 0], [0.3, 0.1 + 0.2]), { ...nae, metric: 'reward' }), true);
});

test('sampleGroups with not-all-equal: rounds until full; running out names the rule', async () => {
  const rounds: RolloutGroup[][] = [
    [group('a', [1, 1]), group('b', [1, 0])],
    [group('c', [0, 0]), group('d', [0, 1])],
  ];
  const out = await sampleGroups(2, nae, async (r) => rounds[r]!);
  assert.deepEqual(out.groups.map((g) => g.uid), ['b', 'd']);
  assert.equal(out.rounds, 2);
  assert.equal(out.filtered, 2);
  await assert.rejects(
    sampleGroups(1, { ...nae, maxRounds: 2 }, async () => [group('z', [1, 1])]),
    (e: Error) => {
      assert.match(e.message, /only 0 of 1 groups kept after trainer\.dynamicSampling\.maxRounds = 2 rounds/);
      assert.match(e.message, /2 groups had all-equal accuracy values \(trainer\.dynamicSampling\.rule = not-all-equal\)/);
      assert.doesNotMatch(e.message, /widen low\/high/);
      return true;
    },
  );
});
