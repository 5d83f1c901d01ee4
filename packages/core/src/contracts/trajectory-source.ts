import type { Prompt, Trajectory } from '../rollout/types.js';
import type { Policy } from './policy.js';

export interface CollectContext {
  /** The policy being trained (πθold during collection). */
  policy: Policy;
  /** Training step (0-based). */
  step: number;
  /** Seed for this step's sampling. */
  seed: number;
}

/** `trajectory-source` kind: fills each prompt's rollout group. */
export interface TrajectorySource {
  collect(prompts: readonly Prompt[], ctx: CollectContext): Promise<Trajectory[]>;
  /**
   * Counts about the last {@link collect} call, logged with the RL step (metrics.jsonl keys, prefixed by the
   * source's own name, e.g. IVR-R1's `ivr_flagged`). The trainer calls it after every `collect`; with dynamic
   * sampling the counts of a step's rounds are summed, so return counts, not ratios. Optional.
   */
  stepMetrics?(): Record<string, number>;
}
