import * as tf from '@tensorflow/tfjs';
import type { DependencyContainer } from 'tsyringe';
import type { Policy, SequenceBatch } from '../contracts/policy.js';
import type { AdvantageEstimator } from '../contracts/advantage-estimator.js';
import type { TokenWeighter } from '../contracts/token-weighter.js';
import type { PolicyObjective } from '../contracts/policy-objective.js';
import type { ResolvedConfig } from '../config/base-schema.js';
import type { Prompt, ScoredTrajectory } from '../rollout/types.js';
import { collateSequences, disposeBatch } from '../rollout/batch.js';
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
import { optimizerStep } from './optimizer.js';
import { saveTrainingCheckpoint } from './training-checkpoint.js';

export interface RlTrainerHooks {
  metrics: MetricsWriter;
  onProgress?: ProgressListener;
  /** Held-out evaluation, called every `trainer.evalEvery` steps; its numbers are logged with the step. */
  evaluate?: (step: number) => Promise<Record<string, number>>;
  /** Where the training checkpoint (policy, optimizer, step, RNG state, config) is written; none when absent. */
  checkpointDir?: string;
}

export interface RlSummary {
  steps: number;
  seconds: number;
  skippedUpdates: number;
  /** Mean training reward / accuracy over the last 10 steps. */
  lastReward: number;
  lastAccuracy: number;
}

/** The rollout batch of one step, collated, with everything the update needs (all `[N, T]` tensors owned here). */
interface PreparedBatch {
  batch: SequenceBatch;
  oldLogprobs: tf.Tensor2D;
  referenceLogprobs: tf.Tensor2D | null;
  advantages: tf.Tensor2D;
  mask: Float32Array;
  tokens: number;
  rows: number;
}

/** Runs `fn` over row chunks of a batch and concatenates the `[chunk, T]` results (no gradient needed). */
function chunkedForward(batch: SequenceBatch, chunk: number, fn: (b: SequenceBatch) => tf.Tensor2D): tf.Tensor2D {
  const n = batch.images.shape[0];
  return tf.tidy(() => {
    const parts: tf.Tensor2D[] = [];
    for (let s = 0; s < n; s += chunk) {
      const e = Math.min(n, s + chunk);
      const sub: SequenceBatch = {
        images: batch.images.slice([s, 0, 0], [e - s, -1, -1]),
        promptTokens: batch.promptTokens.slice([s, 0], [e - s, -1]),
        promptMask: batch.promptMask.slice([s, 0], [e - s, -1]),
        responseTokens: batch.responseTokens.slice([s, 0], [e - s, -1]),
        responseMask: batch.responseMask.slice([s, 0], [e - s, -1]),
      };
      parts.push(fn(sub));
    }
    return parts.length === 1 ? parts[0]! : tf.concat(parts, 0);
  });
}

function gatherBatch(batch: SequenceBatch, index: tf.Tensor1D): SequenceBatch {
  return {
    images: tf.gather(batch.images, index),
    promptTokens: tf.gather(batch.promptTokens, index),
    promptMask: tf.gather(batch.promptMask, index),
    responseTokens: tf.gather(batch.responseTokens, index),
    responseMask: tf.gather(batch.responseMask, index),
  };
}

/**
 * The RL train loop (DESIGN.md "One RL step"): trajectory sources → reward → groups → advantage estimator →
 * collate `[N, T]` → old-policy (and reference) forward → token weighters → for each PPO epoch and mini-batch:
 * policy forward → objective → clipped Adam update → metrics (JSONL).
 */
export class RlTrainer {
  private readonly config: ResolvedConfig;
  private readonly policy: Policy;

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
    const task = container.resolve(TASK);
    const reward = container.resolve(REWARD_FUNCTION);
    const sources = container.resolveAll(TRAJECTORY_SOURCE);
    const estimator = container.resolve(ADVANTAGE_ESTIMATOR);
    const weighters = container.isRegistered(TOKEN_WEIGHTER) ? container.resolveAll(TOKEN_WEIGHTER) : [];
    const objective = container.resolve(POLICY_OBJECTIVE);
    const reference = objective.needsReference ? policy.clone() : null;
    const optimizer = tf.train.adam(tc.learningRate, tc.adamBeta1, tc.adamBeta2);
    const pool = task.prompts('train', tc.trainPrompts, deriveSeed(config.seed, 'rl-prompts'));
    const rng = new Rng(deriveSeed(config.seed, 'rl-order'));
    const started = performance.now();
    let order: number[] = [];
    let skippedUpdates = 0;
    const recent: { reward: number; accuracy: number }[] = [];

    for (let step = 0; step < tc.steps; step++) {
      const stepStart = performance.now();
      if (order.length < tc.promptsPerStep) order = order.concat(rng.shuffle([...pool.keys()]));
      const prompts = order.splice(0, tc.promptsPerStep).map((i) => pool[i]!);

      // 1. Rollouts from every source, scored.
      const collected = await Promise.all(
        sources.map((s, k) => s.collect(prompts, { policy, step, seed: deriveSeed(config.seed, 'rollout', step, k) })),
      );
      const scored: ScoredTrajectory[] = collected.flat().map((t) => ({
        ...t,
        ...reward.score({ response: t.text, answer: t.prompt.answer, responseLength: t.responseTokens.length }),
      }));
      const rolloutSeconds = (performance.now() - stepStart) / 1000;

      // 2. Advantages, old-policy forward, token weights.
      const prepared = this.prepare(scored, prompts, estimator, reference);
      try {
        await this.applyWeighters(prepared, weighters, scored, prompts);
        // 3. Updates.
        const updates = await this.update(prepared, optimizer, objective, rng);
        skippedUpdates += updates.skipped;
        const n = scored.length;
        const row: MetricsRow = {
          phase: 'rl',
          step,
          reward_mean: scored.reduce((a, t) => a + t.reward, 0) / n,
          accuracy_mean: scored.reduce((a, t) => a + t.accuracy, 0) / n,
          format_mean: scored.reduce((a, t) => a + t.format, 0) / n,
          response_length_mean: scored.reduce((a, t) => a + t.responseTokens.length, 0) / n,
          finished_fraction: scored.filter((t) => t.finished).length / n,
          trajectories: n,
          ...updates.metrics,
          skipped_updates: updates.skipped,
          rollout_s: rolloutSeconds,
          step_s: (performance.now() - stepStart) / 1000,
        };
        recent.push({ reward: row['reward_mean'] as number, accuracy: row['accuracy_mean'] as number });
        if (recent.length > 10) recent.shift();
        if (hooks.evaluate && tc.evalEvery > 0 && (step + 1) % tc.evalEvery === 0 && step + 1 < tc.steps) {
          Object.assign(row, prefixed(await hooks.evaluate(step + 1), 'eval_'));
        }
        hooks.metrics.write(row);
        const last = step + 1 === tc.steps;
        if (hooks.checkpointDir && (last || (tc.checkpointEvery > 0 && (step + 1) % tc.checkpointEvery === 0))) {
          await saveTrainingCheckpoint(hooks.checkpointDir, policy, optimizer, {
            step: step + 1,
            rng: { order: rng.state() },
            config,
            extra: { pendingPrompts: order },
          });
        }
        hooks.onProgress?.({
          phase: 'rl',
          step: step + 1,
          total: tc.steps,
          values: { reward: row['reward_mean'] as number, accuracy: row['accuracy_mean'] as number },
        });
      } finally {
        disposeBatch(prepared.batch);
        tf.dispose([prepared.oldLogprobs, prepared.advantages, ...(prepared.referenceLogprobs ? [prepared.referenceLogprobs] : [])]);
      }
    }
    optimizer.dispose();
    reference?.dispose();
    const avg = (k: 'reward' | 'accuracy') => (recent.length ? recent.reduce((a, r) => a + r[k], 0) / recent.length : NaN);
    return {
      steps: tc.steps,
      seconds: (performance.now() - started) / 1000,
      skippedUpdates,
      lastReward: avg('reward'),
      lastAccuracy: avg('accuracy'),
    };
  }

  private prepare(
    scored: ScoredTrajectory[],
    prompts: readonly Prompt[],
    estimator: AdvantageEstimator,
    reference: Policy | null,
  ): PreparedBatch {
    const { policy, config } = this;
    const task = this.container.resolve(TASK);
    const groupOf = new Map(prompts.map((p, i) => [p.id, i]));
    const groupIndex = Int32Array.from(scored.map((t) => groupOf.get(t.prompt.id)!));
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
    const chunk = 256;
    const oldLogprobs = chunkedForward(batch, chunk, (b) => policy.forward(b, { temperature }).logprobs);
    const referenceLogprobs = reference
      ? chunkedForward(batch, chunk, (b) => reference.forward(b, { temperature }).logprobs)
      : null;
    const adv = estimator.compute({
      rewards: Float64Array.from(scored.map((t) => t.reward)),
      groupIndex,
      mask,
      tokens,
    });
    const advantages = tf.tensor2d(adv, [scored.length, tokens]);
    return { batch, oldLogprobs, referenceLogprobs, advantages, mask, tokens, rows: scored.length };
  }

  private async applyWeighters(
    prepared: PreparedBatch,
    weighters: TokenWeighter[],
    scored: ScoredTrajectory[],
    prompts: readonly Prompt[],
  ): Promise<void> {
    if (weighters.length === 0) return;
    const groupOf = new Map(prompts.map((p, i) => [p.id, i]));
    const groupIndex = Int32Array.from(scored.map((t) => groupOf.get(t.prompt.id)!));
    for (const w of weighters) {
      const next = tf.tidy(() =>
        tf.mul(
          prepared.advantages,
          w.weights({
            advantages: prepared.advantages,
            mask: prepared.batch.responseMask,
            oldLogprobs: prepared.oldLogprobs,
            groupIndex,
          }),
        ),
      ) as tf.Tensor2D;
      prepared.advantages.dispose();
      prepared.advantages = next;
    }
  }

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
        // Denominators over the whole mini-batch (METHODS.md §5.3).
        let tokenCount = 0;
        let sequences = 0;
        for (const r of rows) {
          let len = 0;
          for (let t = 0; t < prepared.tokens; t++) len += prepared.mask[r * prepared.tokens + t]!;
          tokenCount += len;
          if (len > 0) sequences++;
        }
        const index = tf.tensor1d(rows, 'int32');
        const whole = rows.length === n && tc.miniBatches === 1;
        const mb = whole ? prepared.batch : gatherBatch(prepared.batch, index);
        const old = whole ? prepared.oldLogprobs : tf.gather(prepared.oldLogprobs, index);
        const adv = whole ? prepared.advantages : tf.gather(prepared.advantages, index);
        const ref = prepared.referenceLogprobs ? (whole ? prepared.referenceLogprobs : tf.gather(prepared.referenceLogprobs, index)) : undefined;
        const result = await optimizerStep(
          optimizer,
          policy.trainableVariables,
          () => {
            const { logprobs } = policy.forward(mb, { temperature: tc.temperature });
            return objective.loss({
              logprobs,
              oldLogprobs: old,
              advantages: adv,
              mask: mb.responseMask,
              ...(ref ? { referenceLogprobs: ref } : {}),
              denominators: { tokens: tokenCount, sequences, maxLength: tc.maxResponseTokens },
            });
          },
          tc.maxGradNorm,
        );
        index.dispose();
        if (!whole) {
          disposeBatch(mb);
          tf.dispose([old, adv, ...(ref ? [ref] : [])]);
        }
        if (result.skipped) {
          skipped++;
          console.warn(`[mmrl] non-finite loss or gradient (loss ${result.loss}, grad norm ${result.gradNorm}): update skipped`);
        }
        for (const [k, v] of Object.entries({ ...result.metrics, grad_norm: result.gradNorm })) sums[k] = (sums[k] ?? 0) + v;
        count++;
      }
    }
    return { skipped, metrics: Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / count])) };
  }
}

function prefixed(values: Record<string, number>, prefix: string): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [prefix + k, v]));
}
