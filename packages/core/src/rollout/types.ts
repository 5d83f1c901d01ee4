/** A task prompt: one image, one question, its verifiable answer. */
export interface Prompt {
  /** Stable id, unique within the split (also the group id `uid` of its rollouts). */
  id: string;
  split: 'train' | 'test';
  /** Grey image, row-major `[height, width]`, values in [0, 1]. */
  image: Float32Array;
  /** `[height, width]` in pixels. */
  imageShape: readonly [number, number];
  /** Question text (tokenised with the task vocabulary). */
  question: string;
  /** Ground truth, compared by the reward function. */
  answer: string;
  /** Task-specific facts (question type, the classes on the shelf, …). */
  meta: Record<string, unknown>;
}

/** Where a trajectory came from (METHODS.md §1.1 `src_i`). */
export type TrajectorySourceTag = 'on' | 'expert' | 'rectified' | 'noised';

/** One response to one prompt. */
export interface Trajectory {
  prompt: Prompt;
  /** Prompt token ids (without image tokens), as fed to the policy. */
  promptTokens: number[];
  /** Response token ids, the final EOS included when the policy stopped. */
  responseTokens: number[];
  /** Log-probability of each response token under the policy that produced it `[T]` (nats). */
  behaviourLogprobs: Float32Array;
  source: TrajectorySourceTag;
  /** True when the response ended with EOS (false: cut at the length limit). */
  finished: boolean;
  /** Decoded response text (EOS excluded). */
  text: string;
}

/** Scores of one trajectory (METHODS.md §7). */
export interface RewardResult {
  /** Scalar reward used by the advantage estimator. */
  reward: number;
  /** 1 when the answer is correct, else 0. */
  accuracy: number;
  /** 1 when the response follows the format, else 0. */
  format: number;
}

export interface ScoredTrajectory extends Trajectory, RewardResult {}

/** The trajectories of one prompt: the unit over which group statistics are taken. */
export interface RolloutGroup {
  uid: string;
  prompt: Prompt;
  members: ScoredTrajectory[];
}
