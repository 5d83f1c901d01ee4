import { Type } from '@sinclair/typebox';
import {
  defineStrategy,
  encodePrompt,
  type CollectContext,
  type GenerateResult,
  type Tokenizer,
  type TrajectorySourceTag,
  type Prompt,
  type ResolvedConfig,
  type Trajectory,
  type TrajectorySource,
  RUN_CONFIG,
} from '@mmrl/core';

export const OnPolicyOptions = Type.Object(
  {
    samples: Type.Integer({ minimum: 1, default: 8, description: 'G: responses sampled per prompt from πθold.' }),
  },
  { additionalProperties: false },
);

/**
 * On-policy sampling (METHODS.md §4.1): G responses per prompt from the current policy at the rollout temperature
 * and top-p of `trainer`, all prompts of a step in one batch. Trajectories carry `src = on` and the sampler's
 * logprobs as behaviour logprobs (the trainer re-scores them with a forward pass before the update, unless
 * `trainer.oldLogprobs` is `rollout`).
 */
export class OnPolicyTrajectorySource implements TrajectorySource {
  constructor(
    private readonly samples: number,
    private readonly config: ResolvedConfig,
  ) {}

  async collect(prompts: readonly Prompt[], ctx: CollectContext): Promise<Trajectory[]> {
    const { policy } = ctx;
    const tok = policy.tokenizer;
    const promptTokens = prompts.map((p) => encodePrompt(tok, p));
    const result = await policy.generate({
      images: prompts.map((p) => p.image),
      promptTokens,
      samplesPerPrompt: this.samples,
      maxNewTokens: this.config.trainer.maxResponseTokens,
      temperature: this.config.trainer.temperature,
      topP: this.config.trainer.topP,
      greedy: false,
      seed: ctx.seed,
    });
    return trajectoriesFromSamples(prompts, promptTokens, result, this.samples, 'on', tok);
  }
}

/**
 * The trajectories of a prompt-major `generate` result (rows p·G … p·G+G−1 belong to prompt p): prompt tokens as fed,
 * the sampled tokens and their logprobs as behaviour logprobs, the given source tag, decoded text.
 */
export function trajectoriesFromSamples(
  prompts: readonly Prompt[],
  promptTokens: readonly number[][],
  result: GenerateResult,
  samplesPerPrompt: number,
  source: TrajectorySourceTag,
  tokenizer: Tokenizer,
): Trajectory[] {
  return result.tokens.map((tokens, row) => {
    const p = Math.floor(row / samplesPerPrompt);
    return {
      prompt: prompts[p]!,
      promptTokens: promptTokens[p]!,
      responseTokens: tokens,
      behaviourLogprobs: result.logprobs[row]!,
      source,
      finished: result.finished[row]!,
      text: tokenizer.decode(tokens),
    };
  });
}

export const onPolicySource = defineStrategy({
  kind: 'trajectory-source',
  name: 'on-policy',
  optionsSchema: OnPolicyOptions,
  docs: { summary: 'G samples per prompt from the current policy.', equations: 'METHODS.md §4.1' },
  provides: ['behaviourLogprobs'],
  create: (options, ctx) => new OnPolicyTrajectorySource(options.samples, ctx.container.resolve(RUN_CONFIG)),
});
