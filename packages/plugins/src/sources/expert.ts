import { resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import {
  Rng,
  Tokenizer,
  defineStrategy,
  deriveSeed,
  encodePrompt,
  readVlmArchitecture,
  RUN_CONFIG,
  TASK,
  type CollectContext,
  type Policy,
  type Prompt,
  type ResolvedConfig,
  type Trajectory,
  type TrajectorySource,
} from '@mmrl/core';
import { VlmPolicy } from '../policies/vlm.js';
import { trajectoriesFromSamples } from './on-policy.js';
import { promptKey, readExpertFile, type ExpertFile, type ExpertRecord } from './expert-file.js';

export const ExpertSourceOptions = Type.Object(
  {
    samples: Type.Integer({ minimum: 1, default: 1, description: 'N_off: expert trajectories per prompt (TGRL §5.1: 1).' }),
    checkpoint: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'A vlm checkpoint directory of the expert policy, run in process (relative to the config file). Exactly one of checkpoint and file.',
      }),
    ),
    file: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'A JSONL file of pre-generated expert trajectories (tokens and per-token expert logprobs; written by `mmrl expert-generate`). Exactly one of checkpoint and file.',
      }),
    ),
    temperature: Type.Number({
      exclusiveMinimum: 0,
      default: 1,
      description: 'Sampling temperature of the in-process expert; ℓφ is recorded at it (METHODS.md TG-5).',
    }),
    topP: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 1, description: 'Nucleus mass of the in-process expert.' }),
  },
  { additionalProperties: false },
);
export type ExpertSourceOptions = Static<typeof ExpertSourceOptions>;

/**
 * Builds the expert policy recorded in a vlm checkpoint (architecture from its manifest).
 * @throws Error naming the path when the checkpoint is missing, or the first vocabulary difference with `vocabulary`.
 */
export async function loadExpertPolicy(dir: string, vocabulary: readonly string[]): Promise<VlmPolicy> {
  const { architecture, vocabulary: saved } = await readVlmArchitecture(dir);
  const diff = saved.findIndex((w, i) => w !== vocabulary[i]);
  if (saved.length !== vocabulary.length || diff >= 0) {
    throw new Error(
      `expert checkpoint ${dir}: its vocabulary differs from the student's (${saved.length} vs ${vocabulary.length} tokens): TGRL needs a shared tokenizer`,
    );
  }
  const policy = new VlmPolicy(architecture, new Tokenizer(saved), { seed: 0 });
  await policy.load(dir);
  return policy;
}

/**
 * TGRL's expert trajectory source (TGRL Eqs. 13–16, §5.1; METHODS.md §4.2, TG-5): N_off trajectories per prompt from
 * an expert policy πφ, tagged `src = expert`, carrying the expert's per-token logprobs ℓφ as behaviour logprobs. They
 * join the prompt's group beside the on-policy samples, so the advantage estimator's μ, σ range over the joint group
 * (Eq. 15) and DAPO's filter sees joint rewards (TG-4). Responses use the student's tokenizer and the same prompt
 * tokens as the on-policy members.
 *
 * Either the expert runs in process (`checkpoint`: sampled fresh every step at `temperature`), or trajectories are
 * read from a JSONL file (`file`, see `readExpertFile`); from a file, prompts with more than N_off trajectories get a
 * seeded choice each step.
 * @throws Error at creation when neither or both of checkpoint/file are given, or the expert's tokenizer differs;
 *   at collection when a prompt has fewer than N_off trajectories in the file.
 */
export class ExpertTrajectorySource implements TrajectorySource {
  constructor(
    private readonly options: ExpertSourceOptions,
    private readonly config: ResolvedConfig,
    private readonly expert: { policy: Policy } | { file: ExpertFile },
  ) {}

  async collect(prompts: readonly Prompt[], ctx: CollectContext): Promise<Trajectory[]> {
    const tok = ctx.policy.tokenizer;
    const promptTokens = prompts.map((p) => encodePrompt(tok, p));
    const n = this.options.samples;
    if ('policy' in this.expert) {
      const result = await this.expert.policy.generate({
        images: prompts.map((p) => p.image),
        promptTokens,
        samplesPerPrompt: n,
        maxNewTokens: this.config.trainer.maxResponseTokens,
        temperature: this.options.temperature,
        topP: this.options.topP,
        greedy: false,
        seed: ctx.seed,
      });
      return trajectoriesFromSamples(prompts, promptTokens, result, n, 'expert', tok);
    }
    const file = this.expert.file;
    const rng = new Rng(deriveSeed(ctx.seed, 'expert-file'));
    return prompts.flatMap((prompt, p) => {
      const list = file.byPrompt.get(promptKey(prompt)) ?? [];
      if (list.length < n) {
        throw new Error(
          `expert trajectories ${file.path}: prompt "${prompt.id}" (key ${promptKey(prompt)}) has ${list.length} trajectories, the source needs samples = ${n}; regenerate the file with \`mmrl expert-generate\` for this config`,
        );
      }
      const chosen: ExpertRecord[] = list.length === n ? list : rng.shuffle([...list]).slice(0, n);
      return chosen.map((r) => {
        const tokens = r.tokens.slice(0, this.config.trainer.maxResponseTokens);
        return {
          prompt,
          promptTokens: promptTokens[p]!,
          responseTokens: tokens,
          behaviourLogprobs: Float32Array.from(r.logprobs.slice(0, tokens.length)),
          source: 'expert' as const,
          finished: r.finished && tokens.length === r.tokens.length,
          text: tok.decode(tokens),
        };
      });
    });
  }

  dispose(): void {
    if ('policy' in this.expert) this.expert.policy.dispose();
  }
}

export const expertSource = defineStrategy({
  kind: 'trajectory-source',
  name: 'expert',
  optionsSchema: ExpertSourceOptions,
  docs: {
    summary: 'TGRL expert trajectories: N_off responses per prompt from an expert policy (in process or a JSONL file), with the expert logprobs ℓφ.',
    paper: 'Beyond Where to Look: Trajectory-Guided RL for Multimodal RLVR (TGRL)',
    equations: 'TGRL Eqs. 13–16; METHODS.md §4.2, TG-4, TG-5',
  },
  provides: ['expertLogprobs'],
  async create(options, ctx) {
    const config = ctx.container.resolve(RUN_CONFIG);
    if ((options.checkpoint === undefined) === (options.file === undefined)) {
      throw new Error('give exactly one of "checkpoint" (an expert vlm checkpoint run in process) and "file" (pre-generated JSONL trajectories)');
    }
    const vocabulary = new Tokenizer(ctx.container.resolve(TASK).vocabulary()).vocab;
    if (options.checkpoint !== undefined) {
      const policy = await loadExpertPolicy(resolve(ctx.baseDir, options.checkpoint), vocabulary);
      return new ExpertTrajectorySource(options, config, { policy });
    }
    const file = await readExpertFile(resolve(ctx.baseDir, options.file!), vocabulary);
    return new ExpertTrajectorySource(options, config, { file });
  },
});
