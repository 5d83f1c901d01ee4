import * as tf from '@tensorflow/tfjs';
import type { Policy } from '../contracts/policy.js';
import type { Task } from '../contracts/task.js';
import { collateSequences, disposeBatch } from '../rollout/batch.js';
import { encodePrompt, encodeResponse } from '../rollout/encode.js';
import { Rng, deriveSeed } from '../util/rng.js';
import type { MetricsWriter, ProgressListener } from './metrics.js';
import { createAdam, optimizerStep } from './optimizer.js';

export interface SftOptions {
  steps: number;
  batchSize: number;
  learningRate: number;
  /** Size of the training prompt pool (training images only). */
  trainPrompts: number;
  maxGradNorm: number;
  seed: number;
  /**
   * Fraction of examples that teach IVR-R1's re-reasoning turns (METHODS.md §4.3; default 0): half are critiques of a
   * corrupted response (`task.critiqueQuestion` → `task.oracleCritique`), half rectifications
   * (`task.rectificationQuestion` with the oracle critique → `task.oracleResponse`).
   */
  rectificationFraction?: number;
}

export interface SftSummary {
  steps: number;
  finalLoss: number;
  seconds: number;
}

/**
 * Supervised warm-up on the task's oracle traces: minimises the token-mean negative log-likelihood of
 * `oracleResponse(prompt) + EOS` given image and prompt, with Adam; with `rectificationFraction` > 0 some examples
 * are IVR-R1 critique and rectification turns instead.
 * @throws Error naming `/sft/rectificationFraction` when it is > 0 and the task has no re-reasoning formats.
 */
export async function runSft(
  policy: Policy,
  task: Task,
  options: SftOptions,
  metrics: MetricsWriter,
  onProgress?: ProgressListener,
): Promise<SftSummary> {
  const started = performance.now();
  const pool = task.prompts('train', options.trainPrompts, deriveSeed(options.seed, 'sft-prompts'));
  const tok = policy.tokenizer;
  const fraction = options.rectificationFraction ?? 0;
  if (fraction > 0 && !(task.critiqueQuestion && task.rectificationQuestion && task.oracleCritique && task.corruptResponse)) {
    throw new Error(
      '/sft/rectificationFraction: the task has no IVR-R1 critique and rectification formats (critiqueQuestion, rectificationQuestion, oracleCritique, corruptResponse)',
    );
  }
  const ivr = new Rng(deriveSeed(options.seed, 'sft-rectification'));
  const targets = pool.map((p) => {
    const u = fraction > 0 ? ivr.next() : 1;
    let question = p.question;
    let target = task.oracleResponse(p);
    if (u < fraction) {
      const failed = task.corruptResponse!(p, ivr);
      const critique = task.oracleCritique!(p, failed);
      if (u < fraction / 2) {
        question = task.critiqueQuestion!(p, failed);
        target = critique;
      } else {
        question = task.rectificationQuestion!(p, failed, critique);
      }
    }
    return {
      image: p.image,
      promptTokens: encodePrompt(tok, { ...p, question }),
      responseTokens: encodeResponse(tok, target),
    };
  });
  const rng = new Rng(deriveSeed(options.seed, 'sft-order'));
  const optimizer = createAdam(options.learningRate);
  let order: number[] = [];
  let finalLoss = NaN;
  for (let step = 0; step < options.steps; step++) {
    if (order.length < options.batchSize) order = order.concat(rng.shuffle([...targets.keys()]));
    const rows = order.splice(0, options.batchSize).map((i) => targets[i]!);
    const batch = collateSequences(rows, task.imageShape, tok.padId);
    const tokens = rows.reduce((n, r) => n + r.responseTokens.length, 0);
    const result = await optimizerStep(
      optimizer,
      policy.trainableVariables,
      () => {
        const { logprobs } = policy.forward(batch, { temperature: 1 });
        const loss = tf.div(tf.neg(tf.sum(tf.mul(logprobs, batch.responseMask))), tokens) as tf.Scalar;
        return { loss, metrics: {} };
      },
      options.maxGradNorm,
    );
    disposeBatch(batch);
    finalLoss = result.loss;
    metrics.write({ phase: 'sft', step, loss: result.loss, grad_norm: result.gradNorm, skipped: result.skipped });
    onProgress?.({ phase: 'sft', step: step + 1, total: options.steps, values: { loss: result.loss } });
  }
  optimizer.dispose();
  return { steps: options.steps, finalLoss, seconds: (performance.now() - started) / 1000 };
}
