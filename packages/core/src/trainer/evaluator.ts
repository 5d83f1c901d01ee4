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

/**
 * Unbiased pass@k estimator (Chen et al. 2021, "Evaluating Large Language Models Trained on Code", Eq. 1):
 * 1 − C(n − c, k) / C(n, k) for n samples of which c are correct, computed as a stable product.
 * @throws Error when k > n or the counts are inconsistent.
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!(Number.isInteger(n) && Number.isInteger(c) && Number.isInteger(k)) || k < 1 || k > n || c < 0 || c > n) {
    throw new Error(`passAtK: need integers 1 ≤ k ≤ n and 0 ≤ c ≤ n, got n=${n}, c=${c}, k=${k}`);
  }
  if (n - c < k) return 1;
  let miss = 1;
  for (let i = n - c + 1; i <= n; i++) miss *= 1 - k / i;
  return 1 - miss;
}

export interface PassAtKOptions {
  /** Samples per prompt n (≥ every k). */
  samples: number;
  /** The k values to report. */
  ks: readonly number[];
  temperature: number;
  topP: number;
  seed: number;
}

/**
 * Samples n responses per held-out prompt and reports the unbiased pass@k for every k (fractions in [0, 1]), and the
 * mean accuracy of the samples (= pass@1 at this temperature).
 */
export async function evaluatePassAtK(
  policy: Policy,
  reward: RewardFunction,
  prompts: readonly Prompt[],
  maxNewTokens: number,
  options: PassAtKOptions,
  batchPrompts = 16,
): Promise<{ samples: number; passAtK: Record<string, number>; sampleAccuracy: number }> {
  const ks = [...options.ks].sort((a, b) => a - b);
  if (ks.some((k) => k > options.samples)) throw new Error(`pass@k: k ${ks.join(', ')} needs at least as many samples (${options.samples})`);
  const sums: Record<string, number> = Object.fromEntries(ks.map((k) => [`pass@${k}`, 0]));
  let correctTotal = 0;
  for (let start = 0; start < prompts.length; start += batchPrompts) {
    const chunk = prompts.slice(start, start + batchPrompts);
    const out = await policy.generate({
      images: chunk.map((p) => p.image),
      promptTokens: chunk.map((p) => encodePrompt(policy.tokenizer, p)),
      samplesPerPrompt: options.samples,
      maxNewTokens,
      temperature: options.temperature,
      topP: options.topP,
      greedy: false,
      seed: options.seed + start,
    });
    chunk.forEach((p, i) => {
      let c = 0;
      for (let g = 0; g < options.samples; g++) {
        const tokens = out.tokens[i * options.samples + g]!;
        c += reward.score({ response: policy.tokenizer.decode(tokens), answer: p.answer, responseLength: tokens.length }).accuracy;
      }
      correctTotal += c;
      for (const k of ks) sums[`pass@${k}`]! += passAtK(options.samples, c, k);
    });
  }
  const n = prompts.length;
  return {
    samples: options.samples,
    passAtK: Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / n])),
    sampleAccuracy: correctTotal / (n * options.samples),
  };
}
