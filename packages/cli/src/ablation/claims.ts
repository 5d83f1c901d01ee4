/**
 * Verdicts on the claims of an ablation spec: does arm `better` beat arm `worse` on held-out accuracy, paired by
 * seed? With the power of the comparison, so that an inconclusive verdict says whether it was a fair test.
 */
import type { Claim } from './spec.js';
import { minDetectableDifference, pairedDifference, POWER, seedsNeeded, type PairedDifference } from './stats.js';

/**
 * - `reproduced`: the paired interval of better − worse lies above 0;
 * - `opposite`: it lies below 0 (worse beat better);
 * - `inconclusive`: it contains 0, or fewer than 2 seeds completed in both arms.
 */
export type ClaimVerdict = 'reproduced' | 'opposite' | 'inconclusive';

/** The power of one paired comparison (all differences and effects as fractions of accuracy). */
export interface ClaimPower {
  /** The target probability of detecting an effect, {@link POWER}. */
  power: number;
  /** Two-sided level of the test, 1 − confidence. */
  alpha: number;
  /** Seeds paired in the comparison. */
  seeds: number;
  /** Sample sd of the per-seed differences; null with fewer than 2 seeds. */
  sd: number | null;
  /** The smallest true difference detected with probability `power` at these seeds and this sd. */
  minDetectable: number | null;
  /** The effect the seed count below is for: the claim's `effect`, else |observed mean difference|. */
  effect: number | null;
  effectSource: 'claim' | 'observed' | null;
  /** Seeds needed to detect `effect` with probability `power` at the observed sd (null: cannot say). */
  seedsNeeded: number | null;
  /**
   * Every paired difference is exactly 0 (at least 2 seeds): the arms reached the same accuracy on every seed, so what
   * separates them did not act in these runs, and no power statement applies (the sd is 0, not small).
   */
  identical: boolean;
}

/** One claim in report.json. */
export interface ClaimReport {
  better: string;
  worse: string;
  source?: string;
  /** better − worse, paired by the seeds completed in both, with its t-interval. */
  difference: PairedDifference;
  verdict: ClaimVerdict;
  power: ClaimPower;
}

/** The verdict of a paired interval (see {@link ClaimVerdict}). */
export function verdictOf(d: Pick<PairedDifference, 'low' | 'high'>): ClaimVerdict {
  if (d.low === null || d.high === null) return 'inconclusive';
  if (d.low > 0) return 'reproduced';
  if (d.high < 0) return 'opposite';
  return 'inconclusive';
}

/**
 * Evaluates one claim from the arms' held-out accuracy by seed.
 * @param accuracyBySeed held-out accuracy after RL of an arm's completed runs, seed → accuracy (fraction).
 */
export function evaluateClaim(
  claim: Claim,
  accuracyBySeed: (arm: string) => ReadonlyMap<number, number>,
  confidence: number,
): ClaimReport {
  const difference = pairedDifference(accuracyBySeed(claim.better), accuracyBySeed(claim.worse), confidence);
  const observed = difference.n > 0 && Number.isFinite(difference.mean) && difference.mean !== 0 ? Math.abs(difference.mean) : null;
  const effect = claim.effect ?? observed;
  return {
    better: claim.better,
    worse: claim.worse,
    ...(claim.source !== undefined ? { source: claim.source } : {}),
    difference,
    verdict: verdictOf(difference),
    power: {
      power: POWER,
      alpha: 1 - confidence,
      seeds: difference.n,
      sd: difference.sd,
      minDetectable: minDetectableDifference(difference.sd, difference.n, confidence, POWER),
      effect,
      effectSource: claim.effect !== undefined ? 'claim' : observed !== null ? 'observed' : null,
      seedsNeeded: seedsNeeded(difference.sd, effect, confidence, POWER),
      identical: difference.n >= 2 && difference.differences.every((d) => d === 0),
    },
  };
}

const pt = (x: number) => `${(100 * x).toFixed(1)} pt`;

/**
 * The power line of a claim, e.g. "5 seeds, sd of the differences 2.0 pt: the smallest difference detectable
 * (two-sided α = 0.05, power 0.8) is 3.3 pt; detecting the observed 2.0 pt needs 10 seeds."
 */
export function powerLine(p: ClaimPower): string {
  if (p.seeds < 2 || p.sd === null) {
    return `${p.seeds} paired seed${p.seeds === 1 ? '' : 's'}: no interval and no power without at least 2.`;
  }
  if (p.identical) {
    return (
      `${p.seeds} seeds, every paired difference exactly 0: the two arms reached the same accuracy on every seed, so ` +
      'what separates them did not act in these runs (check that it can in this regime); no power statement applies.'
    );
  }
  const head =
    `${p.seeds} seeds, sd of the differences ${pt(p.sd)}: the smallest difference detectable ` +
    `(two-sided α = ${p.alpha.toFixed(2)}, power ${p.power}) is ${pt(p.minDetectable!)}`;
  if (p.effect === null) return `${head}.`;
  const what = p.effectSource === 'claim' ? `the claimed ${pt(p.effect)}` : `the observed ${pt(p.effect)}`;
  const need =
    p.seedsNeeded === null
      ? 'would need more than 10,000 seeds'
      : p.seedsNeeded <= p.seeds
        ? `needs ${p.seedsNeeded} seeds (these suffice)`
        : `needs ${p.seedsNeeded} seeds`;
  return `${head}; detecting ${what} ${need}.`;
}
