import type { RewardResult } from '../rollout/types.js';

export interface RewardInput {
  /** Decoded response text. */
  response: string;
  /** Ground-truth answer. */
  answer: string;
  /** Number of response tokens (for length shaping). */
  responseLength: number;
}

/** `reward-function` kind: scores one response against its ground truth (METHODS.md §7). */
export interface RewardFunction {
  score(input: RewardInput): RewardResult;
}
