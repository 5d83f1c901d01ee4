import type { Policy } from '../contracts/policy.js';
import type { RewardFunction } from '../contracts/reward-function.js';
import type { Task } from '../contracts/task.js';
import type { Prompt } from '../rollout/types.js';
import { encodePrompt } from '../rollout/encode.js';

export interface EvalResult {
  /** Number of held-out prompts. */
  prompts: number;
  /** pass@1 with greedy decoding (fraction in [0, 1]). */
  accuracy: number;
  /** Fraction of responses in the task format. */
  format: number;
  meanReward: number;
  /** Mean response length (tokens, EOS included). */
  meanLength: number;
  /** Accuracy of the best answer from the question alone (task.blindBaseline). */
  blindBaseline: number;
}

/**
 * Greedy-decodes every held-out prompt and scores it with the reward function.
 * @param batchSize prompts decoded together.
 */
export async function evaluatePolicy(
  policy: Policy,
  task: Task,
  reward: RewardFunction,
  prompts: readonly Prompt[],
  maxNewTokens: number,
  batchSize = 128,
): Promise<EvalResult> {
  let correct = 0;
  let formatted = 0;
  let rewardSum = 0;
  let lengthSum = 0;
  for (let start = 0; start < prompts.length; start += batchSize) {
    const chunk = prompts.slice(start, start + batchSize);
    const out = await policy.generate({
      images: chunk.map((p) => p.image),
      promptTokens: chunk.map((p) => encodePrompt(policy.tokenizer, p)),
      samplesPerPrompt: 1,
      maxNewTokens,
      temperature: 1,
      topP: 1,
      greedy: true,
      seed: 0,
    });
    out.tokens.forEach((tokens, i) => {
      const r = reward.score({
        response: policy.tokenizer.decode(tokens),
        answer: chunk[i]!.answer,
        responseLength: tokens.length,
      });
      correct += r.accuracy;
      formatted += r.format;
      rewardSum += r.reward;
      lengthSum += tokens.length;
    });
  }
  const n = prompts.length;
  return {
    prompts: n,
    accuracy: correct / n,
    format: formatted / n,
    meanReward: rewardSum / n,
    meanLength: lengthSum / n,
    blindBaseline: task.blindBaseline(prompts),
  };
}
