import * as tf from '@tensorflow/tfjs';
import {
  Rng,
  Tokenizer,
  collateSequences,
  disposeBatch,
  encodePrompt,
  encodeResponse,
  sampleToken,
  type SequenceBatch,
  type VlmArchitecture,
  type VlmModel,
} from '@mmrl/core';
import { FashionShelfTask, VLM_PRESETS, VlmPolicy } from '@mmrl/plugins';

/**
 * The sizes of the vlm policy the benchmark measures: the `student` and `expert` presets with the policy's default
 * `patchSize` 14 (12 image tokens on the 28×84 shelf) and `maxPositions` 128.
 */
export const VLM_SIZES = {
  'vlm-student': { ...VLM_PRESETS.student, patchSize: 14, maxPositions: 128 },
  'vlm-expert': { ...VLM_PRESETS.expert, patchSize: 14, maxPositions: 128 },
} as const;
export type VlmSizeName = keyof typeof VLM_SIZES;

/** The task of the README demo: 3-slot shelves, "how many <class> ?". */
export async function loadBenchTask(): Promise<FashionShelfTask> {
  return FashionShelfTask.load({ slots: 3, questions: ['count'] });
}

/** A vlm policy of size `name` for `task`, fresh weights from `seed` (built as `vlmPolicy.create` builds it). */
export function createBenchPolicy(task: FashionShelfTask, name: VlmSizeName, seed = 1): VlmPolicy {
  const tokenizer = new Tokenizer(task.vocabulary());
  const architecture: VlmArchitecture = {
    vocabSize: tokenizer.size,
    ...VLM_SIZES[name],
    imageShape: [task.imageShape[0], task.imageShape[1]],
  };
  return new VlmPolicy(architecture, tokenizer, { seed });
}

/**
 * A training batch of `rows` real shelf prompts with their oracle responses (+ EOS), as the SFT warm-up builds it.
 * @returns the batch, the number of real response tokens and the padded sequence length `P + Lp + T`.
 */
export function oracleBatch(task: FashionShelfTask, policy: VlmPolicy, rows: number, seed = 1): { batch: SequenceBatch; responseTokens: number; sequenceLength: number } {
  const tok = policy.tokenizer;
  const data = task.prompts('train', rows, seed).map((p) => ({
    image: p.image,
    promptTokens: encodePrompt(tok, p),
    responseTokens: encodeResponse(tok, task.oracleResponse(p)),
  }));
  const batch = collateSequences(data, task.imageShape, tok.padId);
  const responseTokens = data.reduce((n, r) => n + r.responseTokens.length, 0);
  const sequenceLength = policy.model.patches + batch.promptTokens.shape[1] + batch.responseTokens.shape[1];
  return { batch, responseTokens, sequenceLength };
}

/**
 * One SFT-style train step: token-mean NLL of the responses, forward + backward + Adam; syncs with an async read.
 * @returns the loss before the update.
 */
export async function vlmTrainStep(policy: VlmPolicy, optimizer: tf.Optimizer, batch: SequenceBatch, responseTokens: number): Promise<number> {
  const loss = optimizer.minimize(
    () => {
      const { logprobs } = policy.forward(batch);
      return tf.div(tf.neg(tf.sum(tf.mul(logprobs, batch.responseMask))), responseTokens) as tf.Scalar;
    },
    true,
    policy.trainableVariables,
  ) as tf.Scalar;
  const value = (await loss.data())[0]!;
  loss.dispose();
  return value;
}

/**
 * Makes EOS unsampleable (its output-head bias at −1e4), so every row of a sampling benchmark decodes exactly
 * `maxNewTokens` tokens. Only for benchmarks: the model is no longer the one that was trained.
 */
export function suppressEos(policy: VlmPolicy): void {
  const bias = policy.model.parameter('head/b');
  const eos = policy.tokenizer.eosId;
  tf.tidy(() => bias.assign(tf.add(bias, tf.oneHot([eos], bias.shape[0]!).reshape([-1]).mul(-1e4))));
}

export interface SampleRequest {
  images: Float32Array[];
  promptTokens: number[][];
  samplesPerPrompt: number;
  maxNewTokens: number;
  seed: number;
}

/** `prompts` shelf prompts as a sampling request (temperature 1, no top-p). */
export function sampleRequest(task: FashionShelfTask, policy: VlmPolicy, prompts: number, samplesPerPrompt: number, maxNewTokens: number, seed = 2): SampleRequest {
  const ps = task.prompts('train', prompts, seed);
  return {
    images: ps.map((p) => p.image),
    promptTokens: ps.map((p) => encodePrompt(policy.tokenizer, p)),
    samplesPerPrompt,
    maxNewTokens,
    seed,
  };
}

/** Sampling with the policy's KV-cached `generate`. @returns tokens generated (EOS included). */
export async function sampleWithCache(policy: VlmPolicy, r: SampleRequest): Promise<number> {
  const out = await policy.generate({ ...r, temperature: 1, topP: 1, greedy: false });
  return out.tokens.reduce((n, t) => n + t.length, 0);
}

/**
 * Sampling WITHOUT a KV cache: every step re-runs the full forward pass (`responseLogits`, the training forward) over
 * `[image | prompt | tokens so far]` for all rows and samples from the last position's logits. Rows are prompt-major
 * (prompt p's samples at p·G … p·G+G−1), as in `generate`; a row that samples EOS stops counting (and is fed padding).
 * @returns tokens generated (EOS included).
 */
export async function sampleWithoutCache(model: VlmModel, r: SampleRequest, eosId: number, padId: number): Promise<number> {
  const [h, w] = model.architecture.imageShape;
  const v = model.architecture.vocabSize;
  const g = r.samplesPerPrompt;
  const n = r.promptTokens.length * g;
  const lp = Math.max(1, ...r.promptTokens.map((p) => p.length));
  const images = new Float32Array(n * h * w);
  const prompt = new Int32Array(n * lp).fill(padId);
  const mask = new Float32Array(n * lp);
  for (let row = 0; row < n; row++) {
    const p = Math.floor(row / g);
    images.set(r.images[p]!, row * h * w);
    const tokens = r.promptTokens[p]!;
    tokens.forEach((tok, j) => {
      prompt[row * lp + lp - tokens.length + j] = tok;
      mask[row * lp + lp - tokens.length + j] = 1;
    });
  }
  const fixed = {
    images: tf.tensor3d(images, [n, h, w]),
    promptTokens: tf.tensor2d(prompt, [n, lp], 'int32'),
    promptMask: tf.tensor2d(mask, [n, lp]),
  };
  const rng = new Rng(r.seed);
  const generated: number[][] = Array.from({ length: n }, () => []);
  const done = new Array<boolean>(n).fill(false);
  let count = 0;
  try {
    for (let t = 0; t < r.maxNewTokens && done.some((d) => !d); t++) {
      // Response slots 0..t: the t tokens so far plus one placeholder whose logits row predicts token t.
      const resp = new Int32Array(n * (t + 1)).fill(padId);
      generated.forEach((toks, row) => resp.set(toks, row * (t + 1)));
      const logits = tf.tidy(() => {
        const responseTokens = tf.tensor2d(resp, [n, t + 1], 'int32');
        const batch: SequenceBatch = { ...fixed, responseTokens, responseMask: tf.onesLike(responseTokens).toFloat() };
        return model.responseLogits(batch).slice([0, t, 0], [n, 1, v]);
      });
      const values = (await logits.data()) as Float32Array;
      logits.dispose();
      for (let row = 0; row < n; row++) {
        if (done[row]) {
          generated[row]!.push(padId);
          continue;
        }
        const s = sampleToken(values, row * v, v, { temperature: 1, topP: 1, greedy: false }, rng);
        generated[row]!.push(s.token);
        count++;
        if (s.token === eosId) done[row] = true;
      }
    }
  } finally {
    tf.dispose(Object.values(fixed));
  }
  return count;
}

export { disposeBatch };
