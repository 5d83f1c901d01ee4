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
