import { Type } from '@sinclair/typebox';
import {
  defineStrategy,
  encodePrompt,
  type CollectContext,
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
 * logprobs as behaviour logprobs (the trainer re-scores them with a forward pass before the update).
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
    return result.tokens.map((tokens, row) => {
      const p = Math.floor(row / this.samples);
      return {
        prompt: prompts[p]!,
        promptTokens: promptTokens[p]!,
        responseTokens: tokens,
        behaviourLogprobs: result.logprobs[row]!,
        source: 'on' as const,
        finished: result.finished[row]!,
        text: tok.decode(tokens),
      };
    });
  }
}

export const onPolicySource = defineStrategy({
  kind: 'trajectory-source',
  name: 'on-policy',
  optionsSchema: OnPolicyOptions,
  docs: { summary: 'G samples per prompt from the current policy.', equations: 'METHODS.md §4.1' },
  provides: ['behaviourLogprobs'],
  create: (options, ctx) => new OnPolicyTrajectorySource(options.samples, ctx.container.resolve(RUN_CONFIG)),
});
