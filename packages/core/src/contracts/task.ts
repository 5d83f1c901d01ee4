import type { Prompt } from '../rollout/types.js';
import type { Rng } from '../util/rng.js';

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
  /**
   * IVR-R1 re-reasoning formats (METHODS.md §4.3; optional: a task without them cannot host `ivr-rectification` nor
   * teach the formats in SFT). The question of the critique turn: the original question, the failed response, and
   * the critique instruction; the policy sees the image again with it.
   */
  critiqueQuestion?(prompt: Prompt, failedResponse: string): string;
  /** The question of the rectification turn: question, failed response, critique, rectification instruction. */
  rectificationQuestion?(prompt: Prompt, failedResponse: string, critique: string): string;
  /** A correct critique of `failedResponse` (SFT data for the critique turn). */
  oracleCritique?(prompt: Prompt, failedResponse: string): string;
  /**
   * A plausible wrong response in the task's format, drawn with `rng` (SFT data: the failed responses the critique
   * and rectification turns are taught on). The rectification target is {@link oracleResponse}.
   */
  corruptResponse?(prompt: Prompt, rng: Rng): string;
}
