import tQuantile from '@stdlib/stats-base-dists-t-quantile';

/** A mean with its Student t confidence interval over independent samples (here: seeds). */
export interface TInterval {
  /** Number of values. */
  n: number;
  mean: number;
  /** Sample standard deviation (n − 1 denominator); null when n < 2. */
  sd: number | null;
  /** Standard error sd/√n; null when n < 2. */
  se: number | null;
  /** Two-sided confidence level, e.g. 0.95. */
  confidence: number;
  /** Degrees of freedom n − 1. */
  df: number;
  /** The t quantile t_{1 − (1 − confidence)/2, n − 1}; null when n < 2. */
  t: number | null;
  /** t·se; null when n < 2 (no interval from one value). */
  halfWidth: number | null;
  /** mean − halfWidth; null when n < 2. */
  low: number | null;
  /** mean + halfWidth; null when n < 2. */
  high: number | null;
}

/**
 * The two-sided Student t-interval of the mean: x̄ ± t_{1−α/2, n−1} · s/√n with s the sample standard deviation
 * (n − 1). The quantile comes from `@stdlib/stats-base-dists-t-quantile`. With one value the interval is undefined
 * (nulls); with none the mean is NaN.
 */
export function tInterval(values: readonly number[], confidence = 0.95): TInterval {
  if (!(confidence > 0 && confidence < 1)) throw new Error(`confidence must lie in (0, 1), got ${confidence}`);
  const n = values.length;
  const mean = n > 0 ? values.reduce((a, b) => a + b, 0) / n : NaN;
  if (n < 2) return { n, mean, sd: null, se: null, confidence, df: Math.max(0, n - 1), t: null, halfWidth: null, low: null, high: null };
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1);
  const sd = Math.sqrt(variance);
  const se = sd / Math.sqrt(n);
  const t = tQuantile(1 - (1 - confidence) / 2, n - 1);
  const halfWidth = t * se;
  return { n, mean, sd, se, confidence, df: n - 1, t, halfWidth, low: mean - halfWidth, high: mean + halfWidth };
}

/** A paired comparison: the per-seed differences (arm − baseline) and their t-interval. */
export interface PairedDifference extends TInterval {
  /** The seeds present in both (completed runs only), ascending. */
  seeds: number[];
  /** arm − baseline for each of `seeds`. */
  differences: number[];
}

/**
 * Differences arm − baseline paired by seed (seeds completed in both), with the t-interval of their mean: the paired
 * t-interval, which removes the between-seed variance the two arms share.
 */
export function pairedDifference(
  arm: ReadonlyMap<number, number>,
  baseline: ReadonlyMap<number, number>,
  confidence = 0.95,
): PairedDifference {
  const seeds = [...arm.keys()].filter((s) => baseline.has(s)).sort((a, b) => a - b);
  const differences = seeds.map((s) => arm.get(s)! - baseline.get(s)!);
  return { ...tInterval(differences, confidence), seeds, differences };
}

/** Mean of the finite values, or null when there are none. */
export function meanOf(values: readonly (number | null | undefined)[]): number | null {
  const finite = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  return finite.length > 0 ? finite.reduce((a, b) => a + b, 0) / finite.length : null;
}

/** Power of the paired comparisons in a report: 0.8, the conventional target (Cohen 1988). */
export const POWER = 0.8;

/**
 * The smallest true paired difference that a two-sided paired t-test at level 1 − `confidence` detects with
 * probability `power`, from n seeds whose differences have sample standard deviation `sd`:
 *
 *   δ_min = (t_{1−α/2, n−1} + t_{power, n−1}) · sd / √n,   α = 1 − confidence,
 *
 * the usual t approximation of the noncentral-t power equation (the second quantile replaces the normal z_{power}).
 * Units are those of `sd` (accuracy as a fraction in the reports). Null when n < 2 or sd is not finite.
 * Example: sd = 0.02, n = 5, 95%, power 0.8 → (2.7764 + 0.9410) · 0.02/√5 = 0.03325.
 * @throws Error when confidence or power lies outside (0, 1).
 */
export function minDetectableDifference(sd: number | null, n: number, confidence = 0.95, power = POWER): number | null {
  checkLevels(confidence, power);
  if (sd === null || !Number.isFinite(sd) || n < 2) return null;
  return ((tQuantile(1 - (1 - confidence) / 2, n - 1) + tQuantile(power, n - 1)) * sd) / Math.sqrt(n);
}

/**
 * The fewest seeds n ≥ 2 at which {@link minDetectableDifference}(sd, n) ≤ |effect|: how many paired seeds a
 * difference of `effect` needs to be detected with probability `power` at level 1 − `confidence`, if the seeds'
 * differences keep the standard deviation `sd`. 2 when sd = 0; null when sd or effect is missing or not finite, the
 * effect is 0, or more than `maxSeeds` would be needed.
 * Example: sd = 0.02, effect = 0.02 → 10 (δ_min at 9 seeds is 0.02130, at 10 seeds 0.01989).
 * @throws Error when confidence or power lies outside (0, 1).
 */
export function seedsNeeded(
  sd: number | null,
  effect: number | null,
  confidence = 0.95,
  power = POWER,
  maxSeeds = 10_000,
): number | null {
  checkLevels(confidence, power);
  if (sd === null || effect === null || !Number.isFinite(sd) || !Number.isFinite(effect) || effect === 0) return null;
  if (sd === 0) return 2;
  const target = Math.abs(effect);
  for (let n = 2; n <= maxSeeds; n++) {
    if (minDetectableDifference(sd, n, confidence, power)! <= target) return n;
  }
  return null;
}

function checkLevels(confidence: number, power: number): void {
  if (!(confidence > 0 && confidence < 1)) throw new Error(`confidence must lie in (0, 1), got ${confidence}`);
  if (!(power > 0 && power < 1)) throw new Error(`power must lie in (0, 1), got ${power}`);
}
