import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sourceAdvantageStats } from '../../src/trainer/advantage-stats.js';
import type { ScoredTrajectory, TrajectorySourceTag } from '../../src/rollout/types.js';

/** A scored trajectory with `length` response tokens; only source, accuracy and length matter here. */
const row = (source: TrajectorySourceTag, accuracy: number, length = 2): ScoredTrajectory =>
  ({ source, accuracy, reward: accuracy, format: 1, responseTokens: new Array(length).fill(3) }) as unknown as ScoredTrajectory;

const close = (a: number | undefined, b: number, what: string) => assert.ok(a !== undefined && Math.abs(a - b) < 1e-6, `${what}: ${a} ≠ ${b}`);

test('advantage by source and rescued groups, from the TGRL F7b fixture and an all-wrong group', () => {
  // Group 0 (METHODS.md F7b): on-policy rewards [0,1,0,0,1,0,0], expert 1: Ā = −0.724567 (×5), +1.207612 (×2 and the
  // expert). Group 1: 7 on-policy rewards 0, expert 1: μ = 0.125, σ_u = 0.353553, on-policy Ā = −0.353553, expert
  // +2.474874 — no on-policy member is right and the expert is: a rescued group.
  const a0 = [-0.724567, 1.207612, -0.724567, -0.724567, 1.207612, -0.724567, -0.724567, 1.207612];
  const a1 = [...new Array(7).fill(-0.353553), 2.474874];
  const acc0 = [0, 1, 0, 0, 1, 0, 0, 1];
  const acc1 = [0, 0, 0, 0, 0, 0, 0, 1];
  const scored = [...acc0, ...acc1].map((acc, i) => row(i % 8 === 7 ? 'expert' : 'on', acc));
  const groupIndex = Int32Array.from(scored.map((_, i) => (i < 8 ? 0 : 1)));
  const tokens = 3; // rows padded to 3 tokens, 2 real: the padding column holds garbage that must not count
  const adv = new Float32Array(scored.length * tokens);
  [...a0, ...a1].forEach((a, i) => adv.set([a, a, 99], i * tokens));
  const stats = sourceAdvantageStats(scored, groupIndex, adv, tokens);
  // on: (2·1.207612 − 5·0.724567 − 7·0.353553)/14 = (2.415224 − 3.622835 − 2.474871)/14 = −0.2630344;
  // expert: (1.207612 + 2.474874)/2 = 1.841243.
  close(stats['on_advantage_mean'], -0.2630344, 'on-policy advantage mean');
  close(stats['expert_advantage_mean'], 1.841243, 'expert advantage mean');
  assert.equal(stats['rescued_groups'], 1);
  // One source: nothing to report.
  assert.deepEqual(sourceAdvantageStats(scored.slice(0, 7), groupIndex.slice(0, 7), adv, tokens), {});
  // An empty response (length 0) counts as advantage 0; noised rows are on-policy for the rescue rule.
  const mixed = [row('noised', 0, 0), row('rectified', 1, 2)];
  const s2 = sourceAdvantageStats(mixed, Int32Array.from([0, 0]), Float32Array.from([5, 5, 0.5, 0.5]), 2);
  assert.equal(s2['noised_advantage_mean'], 0);
  assert.equal(s2['rectified_advantage_mean'], 0.5);
  assert.equal(s2['rescued_groups'], 1);
});
