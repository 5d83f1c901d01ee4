import type { RolloutGroup } from '../rollout/types.js';
import { ON_POLICY } from './advantage-stats.js';

/**
 * How the on-policy members of a step's groups came out: the input of the methods that act on saturated groups.
 * A group whose on-policy samples are all wrong gives GRPO σ = 0 and no gradient; that is what TGRL's expert
 * trajectories rescue (TGRL §4, Eqs. 15–16) and what IVR-R1's rectification turns into signal; groups that are all
 * wrong or all right are what DAPO's dynamic sampling drops (METHODS.md §6.1).
 *
 * Over the step's kept groups (after dynamic sampling, which keeps only mixed ones: its `filtered_groups` count the
 * saturated) with at least one on-policy member (`on`, `noised`); a member is right when its accuracy is ≥ 1:
 * - `on_all_wrong_groups`: fraction of groups with no on-policy member right;
 * - `on_all_correct_groups`: fraction with every on-policy member right;
 * - `on_group_accuracy_sd`: standard deviation (population) of the groups' on-policy accuracy means, the spread of
 *   difficulty across the batch's prompts (Durian's premise).
 *
 * @returns `{}` when no group has an on-policy member.
 */
export function groupOutcomeStats(groups: readonly RolloutGroup[]): Record<string, number> {
  const means: number[] = [];
  let allWrong = 0;
  let allCorrect = 0;
  for (const group of groups) {
    const on = group.members.filter((t) => ON_POLICY.has(t.source));
    if (on.length === 0) continue;
    const right = on.filter((t) => t.accuracy >= 1).length;
    if (right === 0) allWrong++;
    if (right === on.length) allCorrect++;
    means.push(on.reduce((a, t) => a + t.accuracy, 0) / on.length);
  }
  if (means.length === 0) return {};
  const mu = means.reduce((a, b) => a + b, 0) / means.length;
  const sd = Math.sqrt(means.reduce((a, m) => a + (m - mu) ** 2, 0) / means.length);
  return {
    on_all_wrong_groups: allWrong / means.length,
    on_all_correct_groups: allCorrect / means.length,
    on_group_accuracy_sd: sd,
  };
}
