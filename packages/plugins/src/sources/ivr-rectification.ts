import { Type, type Static } from '@sinclair/typebox';
import {
  Rng,
  defineStrategy,
  deriveSeed,
  encodePrompt,
  REWARD_FUNCTION,
  RUN_CONFIG,
  TASK,
  type CollectContext,
  type Policy,
  type Prompt,
  type ResolvedConfig,
  type RewardFunction,
  type Task,
  type Trajectory,
  type TrajectorySource,
} from '@mmrl/core';
import { OnPolicyTrajectorySource } from './on-policy.js';

export const IvrRectificationOptions = Type.Object(
  {
    samples: Type.Integer({ minimum: 1, default: 8, description: 'G: on-policy responses sampled per prompt (IVR §5.1: 8).' }),
    rectifiedPerGroup: Type.Integer({
      minimum: 0,
      default: 2,
      description: 'K: failed rollouts per group sent to re-reasoning (IVR Table 2: 2; 1 and 4 ablated).',
    }),
    rounds: Type.Integer({
      minimum: 1,
      default: 3,
      description: 'Critique → rectify rounds per failed rollout before giving up (I-3: ≤ 3, Fig. 5).',
    }),
    threshold: Type.Union([Type.Null(), Type.Number()], {
      default: null,
      description:
        'τ: a rollout is flagged when its reward is below τ; null = flagged when its accuracy is 0 (τ = 1 − λ, METHODS.md I-1).',
    }),
  },
  { additionalProperties: false },
);
export type IvrRectificationOptions = Static<typeof IvrRectificationOptions>;

/** Statistics of the last `collect` (for logs and tests). */
export interface IvrRectificationStats {
  flagged: number;
  attempted: number;
  /** Rectifications generated per round (index 0 = round 1). */
  perRound: number[];
  kept: number;
}

/** A failed rollout being re-reasoned. */
interface Pending {
  prompt: Prompt;
  promptIndex: number;
  failed: string;
}

/**
 * IVR-R1's re-reasoning source (IVR-R1 §3.2.1–3.2.2, §5.1, App. A; METHODS.md §4.3, I-1…I-5). Per prompt it samples
 * G on-policy responses (tagged `on`), screens them (flagged ⇔ R < τ, or R_acc = 0), picks K flagged ones with a
 * seeded generator (I-2), and lets the same policy critique each one with the image re-injected
 * (`task.critiqueQuestion`) and then rectify it (`task.rectificationQuestion`, with the critique); a rectification
 * that is still wrong becomes the failed response of the next round (at most `rounds`). Correct rectifications are
 * appended to the group (G + k members, I-4) as `rectified` trajectories stored under the **original** prompt, the
 * critique context discarded (I-5), with behaviour logprobs 0 (behaviour probability 1, §3.6): the `ivr-shaping`
 * weighter gives their tokens the ratio f(πθ). Critiques and rectifications use the rollout temperature and top-p.
 * @throws Error at creation when the task has no critique/rectification formats.
 */
export class IvrRectificationSource implements TrajectorySource {
  lastStats: IvrRectificationStats = { flagged: 0, attempted: 0, perRound: [], kept: 0 };

  constructor(
    private readonly options: IvrRectificationOptions,
    private readonly config: ResolvedConfig,
    private readonly task: Task,
    private readonly reward: RewardFunction,
  ) {}

  private flagged(t: { reward: number; accuracy: number }): boolean {
    return this.options.threshold === null ? t.accuracy === 0 : t.reward < this.options.threshold;
  }

  private async sample(policy: Policy, prompts: readonly Prompt[], questions: readonly string[], seed: number) {
    const tok = policy.tokenizer;
    const tc = this.config.trainer;
    return policy.generate({
      images: prompts.map((p) => p.image),
      promptTokens: prompts.map((p, i) => encodePrompt(tok, { ...p, question: questions[i]! })),
      samplesPerPrompt: 1,
      maxNewTokens: tc.maxResponseTokens,
      temperature: tc.temperature,
      topP: tc.topP,
      greedy: false,
      seed,
    });
  }

  async collect(prompts: readonly Prompt[], ctx: CollectContext): Promise<Trajectory[]> {
    const { policy } = ctx;
    const tok = policy.tokenizer;
    const g = this.options.samples;
    const promptTokens = prompts.map((p) => encodePrompt(tok, p));
    // G on-policy samples, exactly as the `on-policy` source draws them.
    const onPolicy = await new OnPolicyTrajectorySource(g, this.config).collect(prompts, ctx);
    // Screen (Eq. 3.4) and choose K flagged rollouts per group (I-2: seeded uniform choice).
    const rng = new Rng(deriveSeed(ctx.seed, 'ivr-choice'));
    let pending: Pending[] = [];
    let flaggedCount = 0;
    prompts.forEach((prompt, p) => {
      const members = onPolicy.slice(p * g, (p + 1) * g);
      const flagged = members.filter((t) =>
        this.flagged(this.reward.score({ response: t.text, answer: prompt.answer, responseLength: t.responseTokens.length })),
      );
      flaggedCount += flagged.length;
      const chosen = rng.shuffle([...flagged]).slice(0, this.options.rectifiedPerGroup);
      for (const t of chosen) pending.push({ prompt, promptIndex: p, failed: t.text });
    });
    const stats: IvrRectificationStats = { flagged: flaggedCount, attempted: pending.length, perRound: [], kept: 0 };
    const kept: Trajectory[][] = prompts.map(() => []);
    for (let round = 0; round < this.options.rounds && pending.length > 0; round++) {
      const items = pending;
      // Critique (Eq. 3.5): image + question + failed response + critique instruction.
      const critiques = await this.sample(
        policy,
        items.map((x) => x.prompt),
        items.map((x) => this.task.critiqueQuestion!(x.prompt, x.failed)),
        deriveSeed(ctx.seed, 'ivr-critique', round),
      );
      const critiqueText = critiques.tokens.map((t) => tok.decode(t));
      // Rectify (Eq. 3.6): image + question + failed response + critique + rectification instruction.
      const rectified = await this.sample(
        policy,
        items.map((x) => x.prompt),
        items.map((x, i) => this.task.rectificationQuestion!(x.prompt, x.failed, critiqueText[i]!)),
        deriveSeed(ctx.seed, 'ivr-rectify', round),
      );
      stats.perRound.push(items.length);
      pending = [];
      items.forEach((x, i) => {
        const tokens = rectified.tokens[i]!;
        const text = tok.decode(tokens);
        const score = this.reward.score({ response: text, answer: x.prompt.answer, responseLength: tokens.length });
        if (score.accuracy === 1) {
          // Kept as an expert-level demonstration, scored later under the original prompt (I-5).
          kept[x.promptIndex]!.push({
            prompt: x.prompt,
            promptTokens: promptTokens[x.promptIndex]!,
            responseTokens: tokens,
            behaviourLogprobs: new Float32Array(tokens.length),
            source: 'rectified',
            finished: rectified.finished[i]!,
            text,
          });
        } else {
          pending.push({ ...x, failed: text });
        }
      });
    }
    stats.kept = kept.reduce((a, k) => a + k.length, 0);
    this.lastStats = stats;
    return prompts.flatMap((_, p) => [...onPolicy.slice(p * g, (p + 1) * g), ...kept[p]!]);
  }
}

export const ivrRectificationSource = defineStrategy({
  kind: 'trajectory-source',
  name: 'ivr-rectification',
  optionsSchema: IvrRectificationOptions,
  docs: {
    summary:
      'IVR-R1: G on-policy samples per prompt; up to K failed ones are critiqued and rectified by the policy itself (image re-injected, ≤ 3 rounds); correct rectifications join the group.',
    paper: 'IVR-R1 (arXiv 2605.23997)',
    equations: 'IVR-R1 Eqs. 3.4–3.6 (text), §5.1, Table 2; METHODS.md §4.3, I-1…I-5',
  },
  provides: ['behaviourLogprobs', 'rectifiedTrajectories'],
  create(options, ctx) {
    const task = ctx.container.resolve(TASK);
    if (!task.critiqueQuestion || !task.rectificationQuestion) {
      throw new Error('the task has no IVR-R1 critique and rectification formats (critiqueQuestion, rectificationQuestion)');
    }
    return new IvrRectificationSource(options, ctx.container.resolve(RUN_CONFIG), task, ctx.container.resolve(REWARD_FUNCTION));
  },
});
