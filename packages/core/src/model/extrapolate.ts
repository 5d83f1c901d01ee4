import * as tf from '@tensorflow/tfjs';
import type { GenerateRequest, GenerateResult } from '../contracts/policy.js';
import { Rng } from '../util/rng.js';
import type { KvCache } from './kv-cache.js';
import { logSoftmaxRow, sampleToken } from './sampler.js';
import { packPrompts } from './generate.js';
import type { VlmModel } from './vlm-model.js';

/** Options of Δlog p test-time extrapolation (METHODS.md §3.4, official `extrapolate.py`). */
export interface ExtrapolationOptions {
  /** a: strength of the extrapolation, logits (1 + a)·ℓRL − a·ℓbase (0.05 or 0.1 in the released runs). */
  alpha: number;
  /** τ: positions with ℓRL(o) − ℓbase(o) ≤ τ are extrapolated, o = the base model's proposed (arg-max) token (−0.3). */
  tau: number;
  /** Candidates: the base model's top-k tokens (50). */
  topK: number;
}

/**
 * Extrapolated combination of one position (METHODS.md §3.4): with o = argmax ℓbase, when ℓRL(o) − ℓbase(o) ≤ τ the
 * next-token logits are (1 + a)·ℓRL − a·ℓbase over the base model's top-k candidates (−∞ elsewhere); otherwise the
 * RL model's log-probabilities unchanged. Inputs are log-probabilities at temperature 1 `[V]`.
 * Example (fixture): ℓRL = −0.5, ℓbase = −1.5, a = 0.05 → −0.45.
 * @returns the logits row to sample from and whether it was extrapolated.
 */
export function extrapolateRow(
  rl: ArrayLike<number>,
  base: ArrayLike<number>,
  options: ExtrapolationOptions,
): { logits: Float64Array; extrapolated: boolean } {
  const v = rl.length;
  let o = 0;
  for (let i = 1; i < v; i++) if (base[i]! > base[o]!) o = i;
  const logits = Float64Array.from(rl);
  if (rl[o]! - base[o]! > options.tau) return { logits, extrapolated: false };
  const order = Array.from({ length: v }, (_, i) => i).sort((a, b) => base[b]! - base[a]! || a - b);
  const keep = new Set(order.slice(0, Math.min(v, options.topK)));
  for (let i = 0; i < v; i++) {
    logits[i] = keep.has(i) ? (1 + options.alpha) * rl[i]! - options.alpha * base[i]! : -Infinity;
  }
  return { logits, extrapolated: true };
}

/**
 * Batched decoding from an RL model extrapolated away from its base model (Δlog p test-time extrapolation, METHODS.md
 * §3.4): both models run with their own KV cache in lockstep; at each position {@link extrapolateRow} decides the
 * logits, then temperature / top-p / greedy as in `generateWithCache`. Rows are prompt-major. The logprobs returned
 * are those of the chosen token under the combined distribution at the sampling temperature.
 * @returns the result plus the fraction of decoded positions that were extrapolated.
 * @throws Error when the two models differ in vocabulary size or image shape, or on malformed requests.
 */
export async function generateExtrapolated(
  rlModel: VlmModel,
  baseModel: VlmModel,
  request: GenerateRequest,
  eosId: number,
  padId: number,
  options: ExtrapolationOptions,
): Promise<GenerateResult & { extrapolatedFraction: number }> {
  const a = rlModel.architecture;
  const b = baseModel.architecture;
  if (a.vocabSize !== b.vocabSize || a.imageShape.join('x') !== b.imageShape.join('x')) {
    throw new Error(
      `extrapolation: the base model (vocabulary ${b.vocabSize}, image ${b.imageShape.join('×')}) does not match the policy (vocabulary ${a.vocabSize}, image ${a.imageShape.join('×')})`,
    );
  }
  const [h, w] = a.imageShape;
  const np = request.promptTokens.length;
  const g = request.samplesPerPrompt;
  if (np === 0) return { tokens: [], logprobs: [], finished: [], extrapolatedFraction: 0 };
  if (request.images.length !== np) throw new Error(`extrapolation: ${request.images.length} images for ${np} prompts`);
  const maxPositions = Math.min(a.maxPositions, b.maxPositions);
  const { promptLengths: lengths, lp, images, prompt, mask } = packPrompts(request, { imageShape: a.imageShape, maxPositions }, padId, 'extrapolation');
  const n = np * g;
  const rng = new Rng(request.seed);
  const tokens: number[][] = Array.from({ length: n }, () => []);
  const logprobs: number[][] = Array.from({ length: n }, () => []);
  const finished: boolean[] = new Array<boolean>(n).fill(false);
  const running = (r: number) => !finished[r] && tokens[r]!.length < request.maxNewTokens;
  let decoded = 0;
  let extrapolated = 0;

  const inputs = [tf.tensor3d(images, [np, h, w]), tf.tensor2d(prompt, [np, lp], 'int32'), tf.tensor2d(mask, [np, lp])] as const;
  const fan = tf.tensor1d(Array.from({ length: n }, (_, r) => Math.floor(r / g)), 'int32');
  let models: { logits: tf.Tensor2D; cache: KvCache }[];
  try {
    models = [rlModel.prefill(...inputs), baseModel.prefill(...inputs)].map((pre) => {
      if (g === 1) return pre;
      // Fan the prompt rows out to the samples once; rows then stay fixed (no compaction).
      const cache = pre.cache.selectRows(Array.from({ length: n }, (_, r) => Math.floor(r / g)));
      const logits = tf.gather(pre.logits, fan) as tf.Tensor2D;
      pre.cache.dispose();
      pre.logits.dispose();
      return { logits, cache };
    });
  } finally {
    tf.dispose([...inputs, fan]);
  }
  const v = a.vocabSize;
  try {
    for (;;) {
      const [rlValues, baseValues] = (await Promise.all(models.map((m) => m.logits.data()))) as Float32Array[];
      for (const m of models) m.logits.dispose();
      for (let r = 0; r < n; r++) {
        if (!running(r)) continue;
        const row = extrapolateRow(logSoftmaxRow(rlValues!, r * v, v, 1), logSoftmaxRow(baseValues!, r * v, v, 1), options);
        decoded++;
        if (row.extrapolated) extrapolated++;
        const s = sampleToken(row.logits, 0, v, request, rng);
        tokens[r]!.push(s.token);
        logprobs[r]!.push(s.logprob);
        if (s.token === eosId) finished[r] = true;
      }
      if (!tokens.some((_, r) => running(r))) break;
      const stepTokens = tokens.map((t, r) => (running(r) ? t[t.length - 1]! : padId));
      const positions = tokens.map((t, r) => (running(r) ? lengths[Math.floor(r / g)]! + t.length - 1 : 0));
      models = models.map((m, k) => {
        const out = (k === 0 ? rlModel : baseModel).step(stepTokens, positions, m.cache);
        m.cache.dispose();
        return out;
      });
    }
  } finally {
    for (const m of models) {
      if (!m.logits.isDisposed) m.logits.dispose();
      m.cache.dispose();
    }
  }
  return {
    tokens,
    logprobs: logprobs.map((l) => Float32Array.from(l)),
    finished,
    extrapolatedFraction: decoded > 0 ? extrapolated / decoded : 0,
  };
}
