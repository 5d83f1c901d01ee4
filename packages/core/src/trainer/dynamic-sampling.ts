import type { Prompt, RolloutGroup, ScoredTrajectory } from '../rollout/types.js';

/** `trainer.dynamicSampling` (METHODS.md §6.1; D-1, D-2). */
export interface DynamicSamplingOptions {
  /** Off: every group of the single round is kept. */
  enabled: boolean;
  /** Per-trajectory value whose group mean is filtered (D-1: accuracy). */
  metric: 'accuracy' | 'reward';
  /** Keep a group iff low < mean(metric) < high. */
  low: number;
  high: number;
  /** Rollout rounds allowed per step before giving up (EasyR1 `max_try_make_batch`). */
  maxRounds: number;
}

export const DYNAMIC_SAMPLING_DEFAULTS: DynamicSamplingOptions = {
  enabled: false,
  metric: 'accuracy',
  low: 0.01,
  high: 0.99,
  maxRounds: 20,
};

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

/** DAPO group filter: keep iff `low < mean(metric) < high` (fixture F5a). */
export function keepGroup(group: RolloutGroup, options: Pick<DynamicSamplingOptions, 'metric' | 'low' | 'high'>): boolean {
  const mean = groupMetricMean(group, options.metric);
  return mean > options.low && mean < options.high;
}

/** Splits groups into kept and dropped ones (order preserved). */
export function filterGroups(
  groups: readonly RolloutGroup[],
  options: Pick<DynamicSamplingOptions, 'metric' | 'low' | 'high'>,
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
 * dynamic sampling on, groups outside (low, high) are dropped and further rounds run until `target` groups are
 * kept, then the kept groups are truncated to exactly `target`. A round that keeps nothing just continues.
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
      throw new Error(
        `dynamic sampling: only ${kept.length} of ${target} groups kept after trainer.dynamicSampling.maxRounds = ` +
          `${options.maxRounds} rounds (${filtered} groups had a mean ${options.metric} outside ` +
          `(${options.low}, ${options.high})); raise trainer.dynamicSampling.maxRounds, widen low/high, or disable ` +
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
