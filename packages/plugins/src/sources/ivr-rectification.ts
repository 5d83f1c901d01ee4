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

/** What a {@link IvrChoiceOrder} is asked about: one prompt's group of G on-policy samples after screening. */
export interface IvrChoiceGroup {
  prompt: Prompt;
  /** Position of the prompt in the `collect` call. */
  promptIndex: number;
  /** G: on-policy members of the group (member indices 0..G−1, in sampling order). */
  samples: number;
  /** Member indices of the flagged rollouts (R < τ, or R_acc = 0), ascending. */
  flagged: readonly number[];
}

/**
 * The order in which a group's flagged rollouts are chosen for re-reasoning: a priority per member `[G]` (smaller
 * first, ties by member index; the entries of unflagged members are ignored). The default draws a seeded uniformly
 * random order per group (METHODS.md I-2); tests inject a fixed one (e.g. index order, METHODS.md §4.3 step 4:
 * "fixtures take the lowest indices"), as ToR's tie order (`TorTieOrder`, weighting/tor.ts) does for its selections.
 */
export type IvrChoiceOrder = (group: IvrChoiceGroup) => ArrayLike<number>;

/**
 * The K flagged members a group rectifies (IVR-R1 §3.2.2, Table 2; METHODS.md §4.3 step 4): the `flagged` member
 * indices sorted by `priority` (ascending, ties by index), the first `k` of them; all of them when fewer than k are
 * flagged, none when none is. Without `priority`: the lowest indices.
 * @param priority `[G]` priorities (finite numbers) indexed by member; must cover every flagged index.
 * @throws Error when a flagged index has no finite priority, or k is not a non-negative integer.
 */
export function chooseFlagged(flagged: readonly number[], k: number, priority?: ArrayLike<number>): number[] {
  if (!Number.isInteger(k) || k < 0) throw new Error(`ivr-rectification: rectifiedPerGroup = ${k} is not a non-negative integer`);
  const keys = new Map<number, number>();
  for (const i of flagged) {
    const v = priority ? priority[i] : i;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new Error(
        `ivr-rectification: the choice order gives flagged member ${i} the priority ${v} (length ${priority!.length}); expected a finite number`,
      );
    }
    keys.set(i, v);
  }
  return [...flagged].sort((a, b) => keys.get(a)! - keys.get(b)! || a - b).slice(0, k);
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
 * Rows: the G on-policy members of each prompt, then its kept rectifications, prompt by prompt (`[Σ_p (G + k_p)]`).
 * @throws Error at creation when the task has no critique/rectification formats; from `collect` when an injected
 *   choice order gives a flagged member no finite priority.
 */
export class IvrRectificationSource implements TrajectorySource {
  lastStats: IvrRectificationStats = { flagged: 0, attempted: 0, perRound: [], kept: 0 };

  /**
   * The last `collect`'s counts for the step's metrics: `ivr_flagged` (on-policy rollouts screened as failed),
   * `ivr_attempted` (failed rollouts chosen for critique and rectification, at most K per group),
   * `ivr_rectifications` (rectifications generated over all rounds) and `ivr_kept` (correct ones, appended to their
   * groups). `ivr_kept / ivr_attempted` is the fraction of the student's errors its own critique lets it fix.
   */
  stepMetrics(): Record<string, number> {
    const s = this.lastStats;
    return {
      ivr_flagged: s.flagged,
      ivr_attempted: s.attempted,
      ivr_rectifications: s.perRound.reduce((a, b) => a + b, 0),
      ivr_kept: s.kept,
    };
  }

  /**
   * @param choiceOrder which flagged rollouts of a group are rectified first ({@link IvrChoiceOrder}); default: a
   *   uniformly random order from a generator seeded by the collect seed (`deriveSeed(seed, 'ivr-choice')`, one
   *   shuffle of the flagged members per group, in prompt order).
   */
  constructor(
    private readonly options: IvrRectificationOptions,
    private readonly config: ResolvedConfig,
    private readonly task: Task,
    private readonly reward: RewardFunction,
    private readonly choiceOrder?: IvrChoiceOrder,
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
    // Screen (Eq. 3.4) and choose K flagged rollouts per group (I-2: seeded uniform choice, or the injected order).
    const rng = new Rng(deriveSeed(ctx.seed, 'ivr-choice'));
    const order: IvrChoiceOrder =
      this.choiceOrder ??
      (({ flagged, samples }) => {
        // Priority = position in a seeded shuffle of the flagged members.
        const priority = new Float64Array(samples).fill(Infinity);
        rng.shuffle([...flagged]).forEach((member, rank) => (priority[member] = rank));
        return priority;
      });
    let pending: Pending[] = [];
    let flaggedCount = 0;
    prompts.forEach((prompt, p) => {
      const members = onPolicy.slice(p * g, (p + 1) * g);
      const flagged: number[] = [];
      members.forEach((t, i) => {
        const score = this.reward.score({ response: t.text, answer: prompt.answer, responseLength: t.responseTokens.length });
        if (this.flagged(score)) flagged.push(i);
      });
      flaggedCount += flagged.length;
      if (flagged.length === 0) return;
      const priority = order({ prompt, promptIndex: p, samples: g, flagged });
      if (priority.length !== g) {
        throw new Error(
          `ivr-rectification: the choice order returned ${priority.length} priorities for a group of ${g} on-policy samples`,
        );
      }
      for (const i of chooseFlagged(flagged, this.options.rectifiedPerGroup, priority)) {
        pending.push({ prompt, promptIndex: p, failed: members[i]!.text });
      }
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
