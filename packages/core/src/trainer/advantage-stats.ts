import type { ScoredTrajectory, TrajectorySourceTag } from '../rollout/types.js';

/** Sources sampled from the current policy (`noised`: NoisyRollout's on-policy samples of distorted images). */
export const ON_POLICY: ReadonlySet<TrajectorySourceTag> = new Set(['on', 'noised']);

/**
 * Where a batch's advantage goes, by trajectory source: the diagnostic of mixed groups (TGRL expert trajectories,
 * IVR-R1 rectified ones), whose off-policy members move the group mean μ and so the on-policy advantages
 * (TGRL Eqs. 15–16). For each source `s` present in a batch that mixes sources:
 *
 * - `<s>_advantage_mean`: mean over the source's trajectories of the trajectory's token-mean advantage
 *   (Σ_t m·A / Σ_t m over its response tokens; the sequence advantage for outcome estimators);
 *
 * and, over the groups (rows sharing a `groupIndex`):
 *
 * - `rescued_groups`: groups in which no on-policy (`on`, `noised`) trajectory is correct (accuracy 1) and some other trajectory is.
 *   GRPO would give such a group σ = 0 and no gradient without its off-policy members; with them every on-policy
 *   member has a negative advantage (e.g. 7 on-policy rewards 0.1 and an expert 1: μ = 0.2125, σ = 0.318, each
 *   on-policy A = −0.354, the expert's +2.475), and the update of that group pushes the 7 sampled responses down.
 *
 * @param advantages `[rows, tokens]` row-major, the estimator's output before token weighters.
 * @param groupIndex `[rows]` group of each row.
 * @returns `{}` when the batch has a single source (the metrics would repeat `reward_mean`'s story).
 */
export function sourceAdvantageStats(
  scored: readonly ScoredTrajectory[],
  groupIndex: Int32Array,
  advantages: Float32Array,
  tokens: number,
): Record<string, number> {
  const sources = [...new Set(scored.map((t) => t.source))];
  if (sources.length < 2) return {};
  const out: Record<string, number> = {};
  const rowMean = (i: number) => {
    const n = scored[i]!.responseTokens.length;
    if (n === 0) return 0;
    let sum = 0;
    for (let t = 0; t < n; t++) sum += advantages[i * tokens + t]!;
    return sum / n;
  };
  for (const src of sources) {
    const rows = scored.flatMap((t, i) => (t.source === src ? [i] : []));
    out[`${src}_advantage_mean`] = rows.reduce((a, i) => a + rowMean(i), 0) / rows.length;
  }
  const groups = new Map<number, number[]>();
  groupIndex.forEach((g, i) => groups.set(g, [...(groups.get(g) ?? []), i]));
  let rescued = 0;
  for (const rows of groups.values()) {
    const on = rows.filter((i) => ON_POLICY.has(scored[i]!.source));
    const off = rows.filter((i) => !ON_POLICY.has(scored[i]!.source));
    if (on.length > 0 && on.every((i) => scored[i]!.accuracy < 1) && off.some((i) => scored[i]!.accuracy >= 1)) rescued++;
  }
  out['rescued_groups'] = rescued;
  return out;
}
