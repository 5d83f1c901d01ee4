import type { Prompt } from '../rollout/types.js';

/**
 * `task` kind: the data. Deterministic: the same split, count and seed give the same prompts.
 */
export interface Task {
  /** Every token the task's questions and responses use (the policy's vocabulary is built from it). */
  vocabulary(): readonly string[];
  /** `[height, width]` of every image. */
  readonly imageShape: readonly [number, number];
  /**
   * @param split `train` prompts use training images only; `test` prompts use test images only.
   * @param count number of prompts.
   * @param seed seeds the prompt sampler.
   */
  prompts(split: 'train' | 'test', count: number, seed: number): Prompt[];
  /** A correct response in the task's format (for SFT warm-up and the expert's data). */
  oracleResponse(prompt: Prompt): string;
  /**
   * Expected accuracy of the best answer chosen from the question alone (no image), averaged over `prompts`: the
   * floor any accuracy must be read against.
   */
  blindBaseline(prompts: readonly Prompt[]): number;
}
