import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Rng,
  Tokenizer,
  deriveSeed,
  type GenerateRequest,
  type GenerateResult,
  type Policy,
  type Prompt,
  type ResolvedConfig,
  type RewardFunction,
  type Task,
} from '@mmrl/core';
import { IvrRectificationSource, chooseFlagged, type IvrChoiceGroup, type IvrChoiceOrder } from '../../src/sources/ivr-rectification.js';
import { GrpoAdvantageEstimator } from '../../src/advantage/grpo.js';
import { close, input } from '../advantage/fixtures.js';

// Fixture F17 (METHODS.md §4.3, λ = 0.1, τ = 0.9): accuracy [1,0,0,1,0,1,0,0], format [1,1,0,1,1,1,1,0]
// → R = 0.9·acc + 0.1·fmt = [1.0, 0.1, 0.0, 1.0, 0.1, 1.0, 0.1, 0.0]; flagged (R < 0.9) = {1, 2, 4, 6, 7}.
const ACC = [1, 0, 0, 1, 0, 1, 0, 0];
const FMT = [1, 1, 0, 1, 1, 1, 1, 0];
const G = 8;

/** Vocabulary: on-policy responses `o0…o7` (member i of every prompt answers `o<i>`), critiques, rectifications. */
const WORDS = ['q', 'crit', 'rect', 'fix', ...Array.from({ length: G }, (_, i) => `o${i}`)];

/** Reward: o<i> scores (ACC[i], FMT[i]); a rectification `fix` is correct and well formatted. */
const reward: RewardFunction = {
  score: ({ response }) => {
    if (response === 'fix') return { reward: 1, accuracy: 1, format: 1 };
    const i = Number(/^o(\d)$/.exec(response)?.[1]);
    return { reward: 0.9 * ACC[i]! + 0.1 * FMT[i]!, accuracy: ACC[i]!, format: FMT[i]! };
  },
};

/**
 * A scripted policy: call 0 is the on-policy batch (member i answers `o<i>`), then critiques and rectifications
 * alternate; a rectification answers `fix`.
 */
class ScriptedPolicy {
  readonly tokenizer = new Tokenizer(WORDS);
  readonly requests: GenerateRequest[] = [];
  async generate(request: GenerateRequest): Promise<GenerateResult> {
    const call = this.requests.push(request) - 1;
    const rows = request.promptTokens.length * request.samplesPerPrompt;
    const word = (row: number) => (call === 0 ? `o${row % request.samplesPerPrompt}` : call % 2 === 1 ? 'crit' : 'fix');
    const tokens = Array.from({ length: rows }, (_, row) => [this.tokenizer.id(word(row)), this.tokenizer.eosId]);
    return {
      tokens,
      logprobs: tokens.map((t) => new Float32Array(t.length).fill(-0.5)),
      finished: tokens.map(() => true),
    };
  }
}

/** A task whose critique question records the failed response it is asked about. */
function recordingTask(): { task: Task; failed: string[] } {
  const failed: string[] = [];
  const task = {
    critiqueQuestion: (_p: Prompt, response: string) => (failed.push(response), 'q crit'),
    rectificationQuestion: () => 'q rect',
  } as unknown as Task;
  return { task, failed };
}

const CONFIG = { trainer: { maxResponseTokens: 4, temperature: 1, topP: 1 } } as unknown as ResolvedConfig;
const OPTIONS = { samples: G, rectifiedPerGroup: 2, rounds: 3, threshold: 0.9 };

function prompt(id: string): Prompt {
  return { id, split: 'train', image: new Float32Array(1), imageShape: [1, 1], question: 'q', answer: '1', meta: {} };
}

async function collect(choiceOrder?: IvrChoiceOrder, prompts = [prompt('p0')], seed = 7, options = OPTIONS) {
  const { task, failed } = recordingTask();
  const policy = new ScriptedPolicy();
  const source = new IvrRectificationSource(options, CONFIG, task, reward, choiceOrder);
  const out = await source.collect(prompts, { policy: policy as unknown as Policy, step: 0, seed });
  return { out, failed, stats: source.lastStats, metrics: source.stepMetrics(), policy };
}

/** Index order: member i has priority i (the lowest flagged indices first). */
const indexOrder: IvrChoiceOrder = ({ samples }) => Array.from({ length: samples }, (_, i) => i);

test('chooseFlagged: by priority, ties by index; fewer flagged than K → all; none → none', () => {
  // flagged {1, 2, 4, 6, 7}, K = 2: index order → {1, 2} (F17's "rectify {1, 2}").
  assert.deepEqual(chooseFlagged([1, 2, 4, 6, 7], 2), [1, 2]);
  // priorities by member 0..7: [9, 5, 8, 9, 0, 9, 5, 1] → flagged sorted by (priority, index): 4 (0), 7 (1), 1 (5),
  // 6 (5; tie with 1, higher index), 2 (8) → first 2 = [4, 7], first 4 = [4, 7, 1, 6].
  const priority = [9, 5, 8, 9, 0, 9, 5, 1];
  assert.deepEqual(chooseFlagged([1, 2, 4, 6, 7], 2, priority), [4, 7]);
  assert.deepEqual(chooseFlagged([1, 2, 4, 6, 7], 4, priority), [4, 7, 1, 6]);
  assert.deepEqual(chooseFlagged([3], 2, priority), [3]);
  assert.deepEqual(chooseFlagged([], 2, priority), []);
  assert.deepEqual(chooseFlagged([1, 2], 0), []);
  assert.throws(() => chooseFlagged([1, 9], 2, priority), /flagged member 9 the priority undefined \(length 8\)/);
  assert.throws(() => chooseFlagged([1], 2, [0, Number.NaN]), /flagged member 1 the priority NaN/);
  assert.throws(() => chooseFlagged([1], -1), /rectifiedPerGroup = -1/);
});

test('F17 with the index choice order: rectify {1, 2}, joint group of 10 and its GRPO advantages', async () => {
  const asked: IvrChoiceGroup[] = [];
  const { out, failed, stats, metrics } = await collect((group) => (asked.push(group), indexOrder(group)));
  // The order sees the screened group: flagged = {1, 2, 4, 6, 7}.
  assert.equal(asked.length, 1);
  assert.deepEqual([...asked[0]!.flagged], [1, 2, 4, 6, 7]);
  assert.equal(asked[0]!.samples, G);
  assert.equal(asked[0]!.promptIndex, 0);
  assert.deepEqual(failed, ['o1', 'o2'], 'critiques of members 1 and 2, in that order');
  assert.deepEqual(stats, { flagged: 5, attempted: 2, perRound: [2], kept: 2 });
  // The step's metrics (metrics.jsonl): the same counts, rectifications summed over rounds.
  assert.deepEqual(metrics, { ivr_flagged: 5, ivr_attempted: 2, ivr_rectifications: 2, ivr_kept: 2 });
  // 8 on-policy members, then the 2 rectifications (src = rectified, behaviour logprobs 0).
  assert.deepEqual(out.map((t) => t.source), [...new Array(8).fill('on'), 'rectified', 'rectified']);
  assert.deepEqual(out.map((t) => t.text), ['o0', 'o1', 'o2', 'o3', 'o4', 'o5', 'o6', 'o7', 'fix', 'fix']);
  assert.deepEqual([...out[8]!.behaviourLogprobs], [0, 0]);
  // R = [1.0, 0.1, 0.0, 1.0, 0.1, 1.0, 0.1, 0.0, 1.0, 1.0]: mean 5.3/10 = 0.53;
  // Σ(R − 0.53)² = 5·0.2209 + 3·0.1849 + 2·0.2809 = 2.221 → std_u = sqrt(2.221/9) = 0.496767;
  // A = (R − 0.53)/(0.496767 + 1e-6): 1.0 → 0.946115, 0.1 → −0.865595, 0.0 → −1.066896.
  const rewards = out.map((t) => reward.score({ response: t.text, answer: '1', responseLength: 2 }).reward);
  close(rewards, [1, 0.1, 0, 1, 0.1, 1, 0.1, 0, 1, 1], 1e-12);
  const a = new GrpoAdvantageEstimator({ epsilon: 1e-6, std: 'unbiased' }).compute(input(rewards));
  close(a, [0.946115, -0.865595, -1.066896, 0.946115, -0.865595, 0.946115, -0.865595, -1.066896, 0.946115, 0.946115]);
});

test('an injected order decides which flagged members are rectified, per prompt', async () => {
  // Prompt 0 prefers members 7 then 4; prompt 1 takes the highest indices first (priority −i): 7, 6.
  const order: IvrChoiceOrder = ({ promptIndex, samples }) =>
    promptIndex === 0 ? [9, 9, 9, 9, 1, 9, 9, 0] : Array.from({ length: samples }, (_, i) => -i);
  const { out, failed, stats } = await collect(order, [prompt('p0'), prompt('p1')]);
  assert.deepEqual(failed, ['o7', 'o4', 'o7', 'o6']);
  assert.deepEqual(stats, { flagged: 10, attempted: 4, perRound: [4], kept: 4 });
  // Rows: prompt 0's 8 + 2 rectified, then prompt 1's 8 + 2.
  assert.equal(out.length, 20);
  assert.deepEqual(out.map((t) => `${t.prompt.id}:${t.source}`).slice(7, 11), ['p0:on', 'p0:rectified', 'p0:rectified', 'p1:on']);
  // K = 4 with three priorities tied at 9 among the flagged {1, 2, 6}: 7, 4, then 1, 2 by index.
  const four = await collect(order, [prompt('p0')], 7, { ...OPTIONS, rectifiedPerGroup: 4 });
  assert.deepEqual(four.failed, ['o7', 'o4', 'o1', 'o2']);
  // A priority array of the wrong length is an error naming the group size.
  await assert.rejects(collect(() => [0, 1]), /returned 2 priorities for a group of 8 on-policy samples/);
});

test('default order: seeded uniform choice, the same as one shuffle of the flagged members per group', async () => {
  for (const seed of [1, 2, 3, 11]) {
    const { failed } = await collect(undefined, [prompt('p0'), prompt('p1')], seed);
    // The default draws, in prompt order, one Fisher–Yates shuffle of the flagged member list from
    // Rng(deriveSeed(seed, 'ivr-choice')) and keeps its first K.
    const rng = new Rng(deriveSeed(seed, 'ivr-choice'));
    const expected = [0, 1].flatMap(() => rng.shuffle([1, 2, 4, 6, 7]).slice(0, 2).map((i) => `o${i}`));
    assert.deepEqual(failed, expected, `seed ${seed}`);
    assert.deepEqual((await collect(undefined, [prompt('p0'), prompt('p1')], seed)).failed, failed, 'deterministic');
  }
});

test('no flagged member: the order is not asked and nothing is rectified', async () => {
  const all: RewardFunction = { score: () => ({ reward: 1, accuracy: 1, format: 1 }) };
  const { task, failed } = recordingTask();
  let asked = 0;
  const source = new IvrRectificationSource(OPTIONS, CONFIG, task, all, (g) => (asked++, indexOrder(g)));
  const out = await source.collect([prompt('p0')], { policy: new ScriptedPolicy() as unknown as Policy, step: 0, seed: 1 });
  assert.equal(out.length, G);
  assert.equal(asked, 0);
  assert.deepEqual(failed, []);
  assert.deepEqual(source.lastStats, { flagged: 0, attempted: 0, perRound: [], kept: 0 });
});
