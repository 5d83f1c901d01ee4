import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupOutcomeStats } from '../../src/trainer/group-outcomes.js';
import type { RolloutGroup, ScoredTrajectory, TrajectorySourceTag } from '../../src/rollout/types.js';

const member = (source: TrajectorySourceTag, accuracy: number): ScoredTrajectory =>
  ({ source, accuracy, reward: accuracy, format: 1, responseTokens: [3] }) as unknown as ScoredTrajectory;
const group = (...members: ScoredTrajectory[]): RolloutGroup => ({ members }) as unknown as RolloutGroup;

test('on-policy group outcomes: all wrong, all right, spread of group accuracy; off-policy members ignored', () => {
  const groups = [
    // all on-policy wrong, a correct expert: all wrong (what TGRL rescues)
    group(member('on', 0), member('on', 0), member('on', 0), member('expert', 1)),
    // all right
    group(member('on', 1), member('noised', 1), member('on', 1)),
    // mixed: 1 of 4
    group(member('on', 1), member('on', 0), member('on', 0), member('on', 0)),
    // only off-policy members: left out
    group(member('rectified', 1)),
  ];
  const stats = groupOutcomeStats(groups);
  assert.equal(stats['on_all_wrong_groups'], 1 / 3);
  assert.equal(stats['on_all_correct_groups'], 1 / 3);
  // means 0, 1, 0.25: μ = 0.416667; population sd = sqrt(((−0.416667)² + 0.583333² + (−0.166667)²)/3) = 0.424918
  assert.ok(Math.abs(stats['on_group_accuracy_sd']! - 0.424918) < 1e-6, String(stats['on_group_accuracy_sd']));
  // A length-1 group of one wrong sample is all wrong and not all right; no on-policy member at all: nothing.
  assert.deepEqual(groupOutcomeStats([group(member('on', 0))]), { on_all_wrong_groups: 1, on_all_correct_groups: 0, on_group_accuracy_sd: 0 });
  assert.deepEqual(groupOutcomeStats([group(member('expert', 1))]), {});
  assert.deepEqual(groupOutcomeStats([]), {});
});
