import * as tf from '@tensorflow/tfjs';
import type { DependencyContainer } from 'tsyringe';
import type { ForwardOutputs, ForwardRequest, Policy, SequenceBatch } from '../contracts/policy.js';
import type { AdvantageEstimator } from '../contracts/advantage-estimator.js';
import type { RatioOverride, RowInfo, TokenWeighter, WeighterOutput } from '../contracts/token-weighter.js';
import type { PolicyObjective } from '../contracts/policy-objective.js';
import type { ResolvedConfig } from '../config/base-schema.js';
import { MmrlConfigError } from '../config/config-error.js';
import type { RolloutGroup, ScoredTrajectory } from '../rollout/types.js';
import { sourceAdvantageStats } from './advantage-stats.js';
import { groupOutcomeStats } from './group-outcomes.js';
import { collateSequences, disposeBatch, sliceBatch } from '../rollout/batch.js';
import {
  ADVANTAGE_ESTIMATOR,
  POLICY,
  POLICY_OBJECTIVE,
  REWARD_FUNCTION,
  RUN_CONFIG,
  TASK,
  TOKEN_WEIGHTER,
  TRAJECTORY_SOURCE,
} from '../tokens.js';
import { Rng, deriveSeed } from '../util/rng.js';
import type { MetricsRow, MetricsWriter, ProgressListener } from './metrics.js';
import { GradientAccumulator, createAdam, sumTensors } from './optimizer.js';
import { scheduledLearningRate } from './lr-schedule.js';
import { DYNAMIC_SAMPLING_DEFAULTS, groupByPrompt, sampleGroups } from './dynamic-sampling.js';
import { accumulateMiniBatch, type UpdateBatch } from './micro-batch.js';
import { loadRlCheckpoint, saveRlCheckpoint } from './resume.js';

export interface RlTrainerHooks {
  metrics: MetricsWriter;
  onProgress?: ProgressListener;
  /** Held-out evaluation, called every `trainer.evalEvery` steps; its numbers are logged with the step. */
  evaluate?: (step: number) => Promise<Record<string, number>>;
  /**
   * Where the training checkpoint (policy, optimizer, step, RNG state, pending prompt order, config, and the frozen
   * reference policy when the objective or the advantage estimator has a KL term) is written; none when absent.
   */
  checkpointDir?: string;
  /**
   * A training checkpoint written by this trainer to continue from: policy, optimizer, reference policy, step, RNG
   * state and prompt order are restored, and training runs from the saved step to `trainer.steps`. With the same
   * config and seed (on a deterministic backend) the metrics rows equal those of an uninterrupted run, wall-clock
   * fields aside.
   */
  resumeFrom?: string;
}

export interface RlSummary {
  /** `trainer.steps` (the last step reached). */
  steps: number;
  /** The step this call started from (0, or the resumed checkpoint's step). */
  startStep: number;
  seconds: number;
  /** Skipped (non-finite) updates over the whole run, resumed parts included. */
  skippedUpdates: number;
  /** Mean training reward / accuracy over the last 10 steps. */
  lastReward: number;
  lastAccuracy: number;
}

/** What a training checkpoint's `extra` holds for resuming. */
interface ResumeExtra {
  pendingPrompts: number[];
  skippedUpdates: number;
  recent: { reward: number; accuracy: number }[];
}

/** The rollout batch of one step, collated, with everything the update needs (all `[N, T]` tensors owned here). */
interface PreparedBatch extends UpdateBatch {
  rows: number;
  groupIndex: Int32Array;
  /** Old-policy forward outputs (`logprobs` is log πθold of every row; the rest as the weighters requested). */
  oldForward: ForwardOutputs;
  /** Per-row facts (source, reward, accuracy, length). */
  rowInfo: RowInfo[];
  /** Whether `oldLogprobs` (the behaviour logprobs) is a tensor of its own (some rows off-policy). */
  ownsBehaviour: boolean;
  /** Advantage by source and rescued groups when the batch mixes sources (see `sourceAdvantageStats`). */
  advantageStats: Record<string, number>;
}

/** Rows per forward pass of the old-policy and reference forwards (no gradient). */
const FORWARD_CHUNK = 256;

/** Runs `fn` over row chunks of a batch and concatenates every output along the rows (no gradient needed). */
function chunkedForward(batch: SequenceBatch, chunk: number, fn: (b: SequenceBatch) => ForwardOutputs): ForwardOutputs {
  const n = batch.images.shape[0];
  return tf.tidy((): tf.TensorContainerObject => {
    const parts: ForwardOutputs[] = [];
    for (let s = 0; s < n; s += chunk) {
      const e = Math.min(n, s + chunk);
      parts.push(fn(sliceBatch(batch, s, e)));
    }
    if (parts.length === 1) return { ...parts[0]! };
    const out: Record<string, tf.Tensor> = {};
    for (const key of Object.keys(parts[0]!) as (keyof ForwardOutputs)[]) {
      out[key] = tf.concat(parts.map((p) => p[key]!), 0);
    }
    return out;
  }) as unknown as ForwardOutputs;
}

/** The union of the weighters' forward requests. @throws Error when two ask for top-p entropy with different p. */
export function mergeForwardRequests(requests: readonly (ForwardRequest | undefined)[]): ForwardRequest {
  const merged: ForwardRequest = {};
  for (const r of requests) {
    if (!r) continue;
    for (const [key, value] of Object.entries(r) as [keyof ForwardRequest, boolean | number | undefined][]) {
      if (value === undefined || value === false) continue;
      if (key === 'topPEntropy') {
        if (merged.topPEntropy !== undefined && merged.topPEntropy !== value) {
          throw new Error(`token weighters ask for top-p entropy with p = ${merged.topPEntropy} and p = ${String(value)}`);
        }
        merged.topPEntropy = value as number;
      } else {
        (merged as Record<string, boolean>)[key] = true;
      }
    }
  }
  return merged;
}

/**
 * The RL train loop (DESIGN.md "One RL step"): trajectory sources → reward → groups → dynamic sampling filter
 * (further rounds until the batch is full) → advantage estimator → collate `[N, T]` → old-policy (and reference)
 * forward → token weighters → for each PPO epoch and mini-batch: gradient accumulation over micro-batches (policy
 * forward → objective with whole-mini-batch denominators) → one clipped Adam update → metrics (JSONL), evaluation,
 * atomic checkpoint. Resumable from its checkpoint ({@link RlTrainerHooks.resumeFrom}).
 */
export class RlTrainer {
  private readonly config: ResolvedConfig;
  private readonly policy: Policy;
  /** What the old-policy forward computes besides logprobs (the union of the weighters' requests). */
  private forwardRequest: ForwardRequest = {};

  constructor(
    private readonly container: DependencyContainer,
    private readonly hooks: RlTrainerHooks,
  ) {
    this.config = container.resolve(RUN_CONFIG);
    this.policy = container.resolve(POLICY);
  }

  async train(): Promise<RlSummary> {
    const { container, config, policy, hooks } = this;
    const tc = config.trainer;
    const dynamic = { ...DYNAMIC_SAMPLING_DEFAULTS, ...tc.dynamicSampling };
    if (dynamic.enabled && dynamic.rule === 'range' && !(dynamic.low < dynamic.high)) {
      throw new MmrlConfigError([
        {
          pointer: '/trainer/dynamicSampling/low',
          message: `must be below high (${dynamic.high}), got ${dynamic.low}: no group could be kept`,
        },
      ]);
    }
    const task = container.resolve(TASK);
    const reward = container.resolve(REWARD_FUNCTION);
    const sources = container.resolveAll(TRAJECTORY_SOURCE);
    const estimator = container.resolve(ADVANTAGE_ESTIMATOR);
    const weighters = container.isRegistered(TOKEN_WEIGHTER) ? container.resolveAll(TOKEN_WEIGHTER) : [];
    this.forwardRequest = mergeForwardRequests(weighters.map((w) => w.forwardRequest));
    const objective = container.resolve(POLICY_OBJECTIVE);
    // The reference of a KL term (KL loss of the objective, or KL in the reward of the advantage estimator) is the
    // policy RL starts from (restored from the checkpoint when resuming).
    const reference = objective.needsReference || estimator.needsReference === true ? policy.clone() : null;
    const optimizer = createAdam(tc.learningRate, tc.adamBeta1, tc.adamBeta2);
    const pool = task.prompts('train', tc.trainPrompts, deriveSeed(config.seed, 'rl-prompts'));
    let rng = new Rng(deriveSeed(config.seed, 'rl-order'));
    const started = performance.now();
    let order: number[] = [];
    let skippedUpdates = 0;
    let recent: { reward: number; accuracy: number }[] = [];
    let startStep = 0;

    try {
      if (hooks.resumeFrom) {
        const state = await loadRlCheckpoint(hooks.resumeFrom, policy, optimizer, reference);
        const extra = state.extra as Partial<ResumeExtra>;
        const orderState = state.rng['order'];
        if (!orderState || !Array.isArray(extra.pendingPrompts)) {
          throw new Error(`Training checkpoint ${hooks.resumeFrom}: no prompt-order RNG state or pending prompts; it cannot be resumed`);
        }
        startStep = state.step;
        rng = new Rng(0, orderState);
        order = [...extra.pendingPrompts];
        skippedUpdates = extra.skippedUpdates ?? 0;
        recent = [...(extra.recent ?? [])];
        if (order.some((i) => !Number.isInteger(i) || i < 0 || i >= pool.length)) {
          throw new Error(
            `Training checkpoint ${hooks.resumeFrom}: its pending prompts do not fit a pool of trainer.trainPrompts = ${pool.length}`,
          );
        }
      }

      for (let step = startStep; step < tc.steps; step++) {
        const stepStart = performance.now();

        // 1. Rollouts from every source, scored, grouped by prompt; dynamic sampling draws further rounds of fresh
        //    prompts until the batch is full (METHODS.md §6.1), before any advantage is computed.
        const sourceMetrics: Record<string, number> = {};
        const sampled = await sampleGroups(tc.promptsPerStep, dynamic, async (round) => {
          if (order.length < tc.promptsPerStep) order = order.concat(rng.shuffle([...pool.keys()]));
          const prompts = order.splice(0, tc.promptsPerStep).map((i) => pool[i]!);
          const collected = await Promise.all(
            sources.map((s, k) =>
              s.collect(prompts, {
                policy,
                step,
                // Round 0 keeps the seed of a run without dynamic sampling.
                seed:
                  round === 0
                    ? deriveSeed(config.seed, 'rollout', step, k)
                    : deriveSeed(config.seed, 'rollout', step, k, 'round', round),
              }),
            ),
          );
          // Sources' own counts (e.g. IVR-R1 flagged / kept), summed over the step's rounds.
          for (const s of sources) {
            for (const [k, v] of Object.entries(s.stepMetrics?.() ?? {})) sourceMetrics[k] = (sourceMetrics[k] ?? 0) + v;
          }
          const scored: ScoredTrajectory[] = collected.flat().map((t) => ({
            ...t,
            ...reward.score({ response: t.text, answer: t.prompt.answer, responseLength: t.responseTokens.length }),
          }));
          return groupByPrompt(scored, prompts);
        });
        const rolloutSeconds = (performance.now() - stepStart) / 1000;

        // 2. Advantages, old-policy forward, token weights.
        const prepareStart = performance.now();
        const prepared = await this.prepare(sampled.groups, estimator, reference);
        try {
          const weightersStart = performance.now();
          await this.applyWeighters(prepared, weighters, objective, step);
          // 3. Updates.
          const updateStart = performance.now();
          const learningRate = scheduledLearningRate(tc.learningRate, step, tc.steps, tc.lrSchedule);
          optimizer.setLearningRate(learningRate);
          const updates = await this.update(prepared, optimizer, objective, rng);
          const updateEnd = performance.now();
          skippedUpdates += updates.skipped;
          const scored = sampled.groups.flatMap((g) => g.members);
          const n = scored.length;
          const mean = (list: readonly ScoredTrajectory[], f: (t: ScoredTrajectory) => number) =>
            list.reduce((a, t) => a + f(t), 0) / list.length;
          const row: MetricsRow = {
            phase: 'rl',
            step,
            reward_mean: mean(scored, (t) => t.reward),
            accuracy_mean: mean(scored, (t) => t.accuracy),
            format_mean: mean(scored, (t) => t.format),
            response_length_mean: mean(scored, (t) => t.responseTokens.length),
            finished_fraction: scored.filter((t) => t.finished).length / n,
            trajectories: n,
            ...bySource(scored),
            ...prepared.advantageStats,
            ...sourceMetrics,
            ...(estimator.stepMetrics?.() ?? {}),
            ...Object.assign({}, ...weighters.map((w) => w.stepMetrics?.() ?? {})),
            ...groupOutcomeStats(sampled.groups),
            kept_groups: sampled.groups.length,
            sampling_rounds: sampled.rounds,
            filtered_groups: sampled.filtered,
            ...(dynamic.enabled
              ? {
                  // Over every generated trajectory (the kept batch is biased towards mixed groups).
                  sampled_reward_mean: mean(sampled.sampled, (t) => t.reward),
                  sampled_accuracy_mean: mean(sampled.sampled, (t) => t.accuracy),
                }
              : {}),
            ...updates.metrics,
            learning_rate: learningRate,
            skipped_updates: updates.skipped,
            rollout_s: rolloutSeconds,
            // Phases of the step (seconds): rollout_s above, then the old/reference forward and the advantages,
            // the token weighters, and the PPO updates (forward + backward + Adam over every micro-batch).
            prepare_s: (weightersStart - prepareStart) / 1000,
            weighters_s: (updateStart - weightersStart) / 1000,
            update_s: (updateEnd - updateStart) / 1000,
            step_s: (performance.now() - stepStart) / 1000,
          };
          recent.push({
            reward: (row['sampled_reward_mean'] ?? row['reward_mean']) as number,
            accuracy: (row['sampled_accuracy_mean'] ?? row['accuracy_mean']) as number,
          });
          if (recent.length > 10) recent.shift();
          if (hooks.evaluate && tc.evalEvery > 0 && (step + 1) % tc.evalEvery === 0 && step + 1 < tc.steps) {
            const evalStart = performance.now();
            Object.assign(row, prefixed(await hooks.evaluate(step + 1), 'eval_'));
            row['eval_s'] = (performance.now() - evalStart) / 1000;
          }
          hooks.metrics.write(row);
          const last = step + 1 === tc.steps;
          if (hooks.checkpointDir && (last || (tc.checkpointEvery > 0 && (step + 1) % tc.checkpointEvery === 0))) {
            const extra: ResumeExtra = { pendingPrompts: order, skippedUpdates, recent };
            await saveRlCheckpoint(hooks.checkpointDir, policy, optimizer, reference, {
              step: step + 1,
              rng: { order: rng.state() },
              config,
              extra: extra as unknown as Record<string, unknown>,
            });
          }
          hooks.onProgress?.({
            phase: 'rl',
            step: step + 1,
            total: tc.steps,
            values: { reward: row['reward_mean'] as number, accuracy: row['accuracy_mean'] as number },
          });
        } finally {
          this.disposePrepared(prepared);
        }
      }
    } finally {
      optimizer.dispose();
      reference?.dispose();
    }
    const avg = (k: 'reward' | 'accuracy') => (recent.length ? recent.reduce((a, r) => a + r[k], 0) / recent.length : NaN);
    return {
      steps: tc.steps,
      startStep,
      seconds: (performance.now() - started) / 1000,
      skippedUpdates,
      lastReward: avg('reward'),
      lastAccuracy: avg('accuracy'),
    };
  }

  private async prepare(
    groups: readonly RolloutGroup[],
    estimator: AdvantageEstimator,
    reference: Policy | null,
  ): Promise<PreparedBatch> {
    const { policy, config } = this;
    const task = this.container.resolve(TASK);
    const scored = groups.flatMap((g) => g.members);
    // Groups by position: the same prompt drawn in two rounds forms two groups.
    const groupIndex = Int32Array.from(groups.flatMap((g, i) => g.members.map(() => i)));
    const tokens = Math.max(1, ...scored.map((t) => t.responseTokens.length));
    const batch = collateSequences(
      scored.map((t) => ({ image: t.prompt.image, promptTokens: t.promptTokens, responseTokens: t.responseTokens })),
      task.imageShape,
      policy.tokenizer.padId,
      tokens,
    );
    const mask = new Float32Array(scored.length * tokens);
    scored.forEach((t, i) => mask.fill(1, i * tokens, i * tokens + t.responseTokens.length));
    const temperature = config.trainer.temperature;
    const { forward: oldForward, forwardedRows } = await this.oldPolicyForward(scored, batch, tokens, task.imageShape);
    const oldLogprobs = oldForward.logprobs;
    const referenceLogprobs = reference
      ? chunkedForward(batch, FORWARD_CHUNK, (b) => ({ logprobs: reference.forward(b, { temperature }).logprobs })).logprobs
      : null;
    let adv: Float32Array;
    try {
      adv = await estimator.compute({
        rewards: Float64Array.from(scored.map((t) => t.reward)),
        groupIndex,
        mask,
        tokens,
        oldLogprobs: (await oldLogprobs.data()) as Float32Array,
        ...(referenceLogprobs ? { referenceLogprobs: (await referenceLogprobs.data()) as Float32Array } : {}),
        groupPrompts: groups.map((g) => g.prompt),
      });
    } catch (e) {
      tf.dispose([...(Object.values(oldForward) as tf.Tensor[]), ...(referenceLogprobs ? [referenceLogprobs] : [])]);
      disposeBatch(batch);
      throw e;
    }
    const advantages = tf.tensor2d(adv, [scored.length, tokens]);
    // The ratio's denominator is the behaviour policy of each row (DESIGN.md "Token weighters compose"): πθold for
    // on-policy (and noised) rows, the logprobs the producing policy recorded for expert and rectified rows.
    const offPolicy = scored.some((t) => t.source === 'expert' || t.source === 'rectified');
    let behaviour = oldLogprobs;
    if (offPolicy) {
      const values = Float32Array.from(await oldLogprobs.data());
      scored.forEach((t, i) => {
        if (t.source !== 'expert' && t.source !== 'rectified') return;
        if (t.behaviourLogprobs.length !== t.responseTokens.length) {
          throw new Error(
            `trajectory of prompt "${t.prompt.id}" (source ${t.source}) has ${t.behaviourLogprobs.length} behaviour logprobs for ${t.responseTokens.length} response tokens`,
          );
        }
        values.set(t.behaviourLogprobs, i * tokens);
      });
      behaviour = tf.tensor2d(values, [scored.length, tokens]);
    }
    const rowInfo: RowInfo[] = scored.map((t) => ({
      source: t.source,
      reward: t.reward,
      accuracy: t.accuracy,
      length: t.responseTokens.length,
    }));
    return {
      batch,
      oldLogprobs: behaviour,
      ownsBehaviour: offPolicy,
      advantageStats: {
        ...sourceAdvantageStats(scored, groupIndex, adv, tokens),
        ...(config.trainer.oldLogprobs === 'rollout' ? { old_forward_rows: forwardedRows } : {}),
      },
      oldForward,
      referenceLogprobs,
      advantages,
      mask,
      tokens,
      rows: scored.length,
      groupIndex,
      rowInfo,
    };
  }

  /**
   * The old-policy outputs of a step's batch (`logprobs [N, T]` is log πθold of every row at the rollout temperature,
   * the rest as the weighters requested). With `trainer.oldLogprobs: rollout` and no weighter asking the forward for
   * more than logprobs, on-policy rows (`src = on`) take the logprobs their sampler recorded (the same full-vocabulary
   * log-softmax at the same temperature, from the KV-cached decode: equal up to float rounding) and only the other
   * rows (expert, rectified, noised) go through a forward pass; otherwise every row does. Padding is 0 on rollout rows.
   * @returns the outputs (owned by the caller) and the number of rows forwarded.
   * @throws Error when an on-policy trajectory recorded a different number of logprobs than response tokens.
   */
  private async oldPolicyForward(
    scored: readonly ScoredTrajectory[],
    batch: SequenceBatch,
    tokens: number,
    imageShape: readonly [number, number],
  ): Promise<{ forward: ForwardOutputs; forwardedRows: number }> {
    const { policy, config } = this;
    const temperature = config.trainer.temperature;
    const rollout = config.trainer.oldLogprobs === 'rollout' && Object.keys(this.forwardRequest).length === 0;
    if (!rollout) {
      return {
        forward: chunkedForward(batch, FORWARD_CHUNK, (b) => policy.forward(b, { temperature, outputs: this.forwardRequest })),
        forwardedRows: scored.length,
      };
    }
    const values = new Float32Array(scored.length * tokens);
    const forwarded: number[] = [];
    scored.forEach((t, i) => {
      if (t.source !== 'on') {
        forwarded.push(i);
        return;
      }
      if (t.behaviourLogprobs.length !== t.responseTokens.length) {
        throw new Error(
          `trainer.oldLogprobs = rollout: on-policy trajectory of prompt "${t.prompt.id}" recorded ${t.behaviourLogprobs.length} logprobs for ${t.responseTokens.length} response tokens`,
        );
      }
      values.set(t.behaviourLogprobs, i * tokens);
    });
    if (forwarded.length > 0) {
      const sub = collateSequences(
        forwarded.map((i) => {
          const t = scored[i]!;
          return { image: t.prompt.image, promptTokens: t.promptTokens, responseTokens: t.responseTokens };
        }),
        imageShape,
        policy.tokenizer.padId,
        tokens,
      );
      try {
        const lp = chunkedForward(sub, FORWARD_CHUNK, (b) => ({ logprobs: policy.forward(b, { temperature }).logprobs })).logprobs;
        const data = (await lp.data()) as Float32Array;
        lp.dispose();
        forwarded.forEach((row, k) => values.set(data.subarray(k * tokens, (k + 1) * tokens), row * tokens));
      } finally {
        disposeBatch(sub);
      }
    }
    return { forward: { logprobs: tf.tensor2d(values, [scored.length, tokens]) }, forwardedRows: forwarded.length };
  }

  /**
   * Token weighters in config order: multipliers multiply the advantage; ratio overrides are kept for the update
   * (their loss masks multiply into the loss mask). @throws Error when two overrides claim the same token, or when
   * the objective cannot apply overrides.
   */
  private async applyWeighters(
    prepared: PreparedBatch,
    weighters: TokenWeighter[],
    objective: PolicyObjective,
    step: number,
  ): Promise<void> {
    const overrides: RatioOverride[] = [];
    prepared.overrides = overrides;
    for (const [k, w] of weighters.entries()) {
      const result = await w.weights({
        advantages: prepared.advantages,
        mask: prepared.batch.responseMask,
        oldLogprobs: prepared.oldForward.logprobs,
        groupIndex: prepared.groupIndex,
        forward: prepared.oldForward,
        rows: prepared.rowInfo,
        behaviourLogprobs: prepared.oldLogprobs,
        batch: prepared.batch,
        policy: this.policy,
        temperature: this.config.trainer.temperature,
        seed: deriveSeed(this.config.seed, 'weighter', step, k),
      });
      const output: WeighterOutput = result instanceof tf.Tensor ? { multiplier: result } : result;
      if (output.multiplier) {
        const next = tf.mul(prepared.advantages, output.multiplier) as tf.Tensor2D;
        output.multiplier.dispose();
        prepared.advantages.dispose();
        prepared.advantages = next;
      }
      if (output.override) overrides.push(output.override);
    }
    if (overrides.length === 0) return;
    if (!objective.supportsRatioOverrides) {
      throw new Error(
        `the policy objective "${this.config.trainer.objective.name}" does not apply ratio overrides, which the token weighters of this run return (TGRL, IVR-R1): use ppo-clip or fipo`,
      );
    }
    const claimed = tf.tidy(() => tf.max(sumTensors(overrides.map((o) => o.tokens))));
    const most = (await claimed.data())[0]!;
    claimed.dispose();
    if (most > 1) throw new Error('two token weighters return ratio overrides for the same token; at most one may apply');
    const masks = overrides.flatMap((o) => (o.lossMask ? [o.lossMask] : []));
    if (masks.length > 0) {
      prepared.lossMask = tf.tidy(() => masks.reduce<tf.Tensor2D>((m, x) => tf.mul(m, x) as tf.Tensor2D, prepared.batch.responseMask));
      prepared.mask = (await prepared.lossMask.data()) as Float32Array;
    }
  }

  /** Disposes every tensor of a prepared batch (the batch, forward outputs, advantages, overrides). */
  private disposePrepared(prepared: PreparedBatch): void {
    disposeBatch(prepared.batch);
    tf.dispose([
      ...(Object.values(prepared.oldForward) as tf.Tensor[]),
      prepared.advantages,
      ...(prepared.ownsBehaviour ? [prepared.oldLogprobs] : []),
      ...(prepared.referenceLogprobs ? [prepared.referenceLogprobs] : []),
      ...(prepared.lossMask ? [prepared.lossMask] : []),
    ]);
    for (const o of prepared.overrides ?? []) {
      tf.dispose([o.tokens, ...Object.values(o.constants), ...(o.lossMask ? [o.lossMask] : [])]);
    }
  }

  /**
   * PPO epochs × mini-batches; each mini-batch is one clipped Adam update from gradients accumulated over its
   * micro-batches (`trainer.microBatchSize` rows per forward), with denominators over the whole mini-batch.
   */
  private async update(
    prepared: PreparedBatch,
    optimizer: tf.Optimizer,
    objective: PolicyObjective,
    rng: Rng,
  ): Promise<{ skipped: number; metrics: Record<string, number> }> {
    const { policy, config } = this;
    const tc = config.trainer;
    const n = prepared.rows;
    const perMini = Math.ceil(n / tc.miniBatches);
    const sums: Record<string, number> = {};
    let count = 0;
    let skipped = 0;
    for (let epoch = 0; epoch < tc.ppoEpochs; epoch++) {
      const perm = tc.miniBatches > 1 ? rng.shuffle([...Array(n).keys()]) : [...Array(n).keys()];
      for (let s = 0; s < n; s += perMini) {
        const rows = perm.slice(s, s + perMini);
        const acc = new GradientAccumulator(policy.trainableVariables);
        try {
          accumulateMiniBatch(acc, policy, objective, prepared, rows, {
            microBatchSize: tc.microBatchSize,
            temperature: tc.temperature,
            maxLength: tc.maxResponseTokens,
          });
        } catch (e) {
          acc.dispose();
          throw e;
        }
        const result = await acc.apply(optimizer, tc.maxGradNorm);
        if (result.skipped) {
          skipped++;
          console.warn(
            `[mmrl] non-finite loss or gradient (loss ${result.loss}, grad norm ${result.gradNorm}) at ` +
              `epoch ${epoch}, mini-batch ${Math.floor(s / perMini)}: update skipped, weights and optimizer state unchanged`,
          );
        }
        for (const [k, v] of Object.entries({ ...result.metrics, grad_norm: result.gradNorm })) sums[k] = (sums[k] ?? 0) + v;
        count++;
      }
    }
    return { skipped, metrics: Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / count])) };
  }
}

/** Per-source counts and means (`expert_trajectories`, `on_accuracy_mean`, …) when a batch mixes sources. */
function bySource(scored: readonly ScoredTrajectory[]): Record<string, number> {
  const sources = [...new Set(scored.map((t) => t.source))];
  if (sources.length < 2) return {};
  const out: Record<string, number> = {};
  for (const src of sources) {
    const list = scored.filter((t) => t.source === src);
    out[`${src}_trajectories`] = list.length;
    out[`${src}_reward_mean`] = list.reduce((a, t) => a + t.reward, 0) / list.length;
    out[`${src}_accuracy_mean`] = list.reduce((a, t) => a + t.accuracy, 0) / list.length;
  }
  return out;
}

function prefixed(values: Record<string, number>, prefix: string): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [prefix + k, v]));
}
