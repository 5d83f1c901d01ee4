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
}
