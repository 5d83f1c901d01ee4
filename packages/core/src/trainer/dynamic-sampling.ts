import type { Prompt, RolloutGroup, ScoredTrajectory } from '../rollout/types.js';

/**
 * The group filter rules of METHODS.md §6.1: `range` keeps a group iff `low < mean(metric) < high` (EasyR1
 * `_make_batch_data`, `filter_low` / `filter_high`); `not-all-equal` keeps a group iff its members' metric values are
 * not all equal (verl `filter_groups`, `std > 0`), and a group of one member (verl: `len == 1`).
 */
export const DYNAMIC_SAMPLING_RULES = ['range', 'not-all-equal'] as const;
export type DynamicSamplingRule = (typeof DYNAMIC_SAMPLING_RULES)[number];

/** `trainer.dynamicSampling` (METHODS.md §6.1; D-1, D-2). */
export interface DynamicSamplingOptions {
  /** Off: every group of the single round is kept. */
  enabled: boolean;
  /** Which filter ({@link DYNAMIC_SAMPLING_RULES}); default `range`. */
  rule: DynamicSamplingRule;
  /** Per-trajectory value the filter reads (D-1: accuracy). */
  metric: 'accuracy' | 'reward';
  /** Rule `range`: keep a group iff low < mean(metric) < high (unused by `not-all-equal`). */
  low: number;
  high: number;
  /** Rollout rounds allowed per step before giving up (EasyR1 `max_try_make_batch`). */
  maxRounds: number;
}

export const DYNAMIC_SAMPLING_DEFAULTS: DynamicSamplingOptions = {
  enabled: false,
  rule: 'range',
  metric: 'accuracy',
  low: 0.01,
  high: 0.99,
  maxRounds: 20,
};

/** What {@link keepGroup} and {@link filterGroups} read; `rule` absent = `range`. */
export type GroupFilterOptions = Pick<DynamicSamplingOptions, 'metric' | 'low' | 'high'> & { rule?: DynamicSamplingRule };

/**
 * Groups one round's trajectories by prompt (all sources jointly, METHODS.md TG-4), in the order of `prompts`.
 * Trajectories of a prompt id that appears twice in `prompts` form one group (at its first position).
 * @throws Error when a trajectory's prompt is not among `prompts`.
 */
export function groupByPrompt(scored: readonly ScoredTrajectory[], prompts: readonly Prompt[]): RolloutGroup[] {
  const groups = new Map<string, RolloutGroup>();
  for (const p of prompts) if (!groups.has(p.id)) groups.set(p.id, { uid: p.id, prompt: p, members: [] });
  for (const t of scored) {
    const g = groups.get(t.prompt.id);
    if (!g) throw new Error(`dynamic sampling: trajectory of prompt "${t.prompt.id}" that is not in this round's prompts`);
    g.members.push(t);
  }
  return [...groups.values()].filter((g) => g.members.length > 0);
}

/** Mean of the metric over a group's members. */
export function groupMetricMean(group: RolloutGroup, metric: DynamicSamplingOptions['metric']): number {
  return group.members.reduce((a, t) => a + t[metric], 0) / group.members.length;
}

/**
 * DAPO group filter (METHODS.md §6.1; the constraint 0 < |{o_i : is_equivalent(a, o_i)}| < G of the DAPO objective,
 * arXiv 2503.14476, as written in TGRL Eq. 4). Input one group `[G]` members; output keep or drop:
 * - rule `range` (default): keep iff `low < mean_i(metric_i) < high` (fixture F5a; EasyR1);
 * - rule `not-all-equal`: keep iff the metric values of the members are not all equal (exact comparison), or the
 *   group has a single member (verl `filter_groups` keeps `std > 0 or len == 1`); `low` and `high` are not read.
 * For binary accuracy and G < 100 both rules keep exactly the groups with 0 < #correct < G.
 */
export function keepGroup(group: RolloutGroup, options: GroupFilterOptions): boolean {
  if ((options.rule ?? 'range') === 'not-all-equal') {
    const members = group.members;
    if (members.length <= 1) return true;
    const first = members[0]![options.metric];
    return members.some((t) => t[options.metric] !== first);
  }
  const mean = groupMetricMean(group, options.metric);
  return mean > options.low && mean < options.high;
}

/** Splits groups into kept and dropped ones (order preserved) by {@link keepGroup}. */
export function filterGroups(
  groups: readonly RolloutGroup[],
  options: GroupFilterOptions,
): { kept: RolloutGroup[]; dropped: RolloutGroup[] } {
  const kept: RolloutGroup[] = [];
  const dropped: RolloutGroup[] = [];
  for (const g of groups) (keepGroup(g, options) ? kept : dropped).push(g);
  return { kept, dropped };
}

export interface SampledGroups {
  /** Exactly `target` groups (all groups of the single round when dynamic sampling is off). */
  groups: RolloutGroup[];
  /** Rollout rounds used. */
  rounds: number;
  /** Groups dropped by the filter over all rounds (surplus kept groups cut by the truncation not counted). */
  filtered: number;
  /** Every trajectory generated this step, over all rounds (for unbiased reward/accuracy logging). */
  sampled: ScoredTrajectory[];
}

/**
 * Fills one step's batch (METHODS.md §6.1): `collectRound(r)` generates and scores a round of fresh prompts; with
 * dynamic sampling on, groups the rule drops ({@link keepGroup}: mean outside (low, high), or all values equal) are
 * dropped and further rounds run until `target` groups are kept, then the kept groups are truncated to exactly
 * `target`. A round that keeps nothing just continues.
 * @throws Error naming `trainer.dynamicSampling.maxRounds` when the rounds run out first.
 */
export async function sampleGroups(
  target: number,
  options: DynamicSamplingOptions,
  collectRound: (round: number) => Promise<RolloutGroup[]>,
): Promise<SampledGroups> {
  if (!options.enabled) {
    const groups = await collectRound(0);
    return { groups, rounds: 1, filtered: 0, sampled: groups.flatMap((g) => g.members) };
  }
  const kept: RolloutGroup[] = [];
  const sampled: ScoredTrajectory[] = [];
  let filtered = 0;
  let rounds = 0;
  while (kept.length < target) {
    if (rounds >= options.maxRounds) {
      const why =
        options.rule === 'not-all-equal'
          ? `${filtered} groups had all-equal ${options.metric} values (trainer.dynamicSampling.rule = not-all-equal)`
          : `${filtered} groups had a mean ${options.metric} outside (${options.low}, ${options.high})`;
      const widen = options.rule === 'not-all-equal' ? '' : ', widen low/high';
      throw new Error(
        `dynamic sampling: only ${kept.length} of ${target} groups kept after trainer.dynamicSampling.maxRounds = ` +
          `${options.maxRounds} rounds (${why}); raise trainer.dynamicSampling.maxRounds${widen}, or disable ` +
          `trainer.dynamicSampling`,
      );
    }
    const groups = await collectRound(rounds);
    rounds++;
    for (const g of groups) sampled.push(...g.members);
    const split = filterGroups(groups, options);
    kept.push(...split.kept);
    filtered += split.dropped.length;
  }
  return { groups: kept.slice(0, target), rounds, filtered, sampled };
}
