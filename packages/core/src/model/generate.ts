import * as tf from '@tensorflow/tfjs';
import type { GenerateRequest, GenerateResult } from '../contracts/policy.js';
import { Rng } from '../util/rng.js';
import type { KvCache } from './kv-cache.js';
import { sampleToken } from './sampler.js';
import type { VlmModel } from './vlm-model.js';

/** The prompts of a request packed for `VlmModel.prefill`: images `[P, H, W]`, prompt ids and mask `[P, Lp]`. */
export interface PackedPrompts {
  promptLengths: number[];
  /** Lp: the longest prompt (≥ 1); prompts are left-padded to it. */
  lp: number;
  images: Float32Array;
  prompt: Int32Array;
  mask: Float32Array;
}

/**
 * Packs a request's images and left-padded prompts for prefill.
 * @param who prefix of the error messages (`generate`, `extrapolation`).
 * @throws Error when an image has the wrong size or prompt + maxNewTokens exceeds the model's maxPositions.
 */
export function packPrompts(
  request: Pick<GenerateRequest, 'images' | 'promptTokens' | 'maxNewTokens'>,
  arch: Pick<VlmModel['architecture'], 'imageShape' | 'maxPositions'>,
  padId: number,
  who: string,
): PackedPrompts {
  const [h, w] = arch.imageShape;
  const np = request.promptTokens.length;
  const promptLengths = request.promptTokens.map((p) => p.length);
  const lp = Math.max(1, ...promptLengths);
  const longest = Math.max(...promptLengths) + request.maxNewTokens - 1;
  if (longest > arch.maxPositions) {
    throw new Error(`${who}: prompt + maxNewTokens need ${longest} text positions, the model has maxPositions ${arch.maxPositions}`);
  }
  const images = new Float32Array(np * h * w);
  const prompt = new Int32Array(np * lp).fill(padId);
  const mask = new Float32Array(np * lp);
  request.images.forEach((img, i) => {
    if (img.length !== h * w) throw new Error(`${who}: image ${i} has ${img.length} pixels, expected ${h}×${w}`);
    images.set(img, i * h * w);
  });
  request.promptTokens.forEach((p, i) => {
    const off = lp - p.length;
    p.forEach((tok, j) => {
      prompt[i * lp + off + j] = tok;
      mask[i * lp + off + j] = 1;
    });
  });
  return { promptLengths, lp, images, prompt, mask };
}

/**
 * Batched autoregressive decoding with a KV cache.
 *
 * Images and prompts are encoded once per prompt (prefill), the cache is fanned out to `samplesPerPrompt` rows
 * (prompt-major: prompt p's samples at rows p·G … p·G+G−1), then every step decodes one token for all running rows
 * in one batch. A row stops at EOS (kept in its tokens, `finished` true) or after `maxNewTokens` tokens (`finished`
 * false). Finished rows are dropped from the batch once they are at least a quarter of it. Logits are read with
 * `await data()` only. Sampling draws from one `Rng(request.seed)` in row order, so the same request and seed give
 * the same result.
 * @param eosId id of the end-of-sequence token.
 * @throws Error on malformed requests (image size, empty prompt list, prompt + maxNewTokens beyond maxPositions).
 */
export async function generateWithCache(model: VlmModel, request: GenerateRequest, eosId: number, padId: number): Promise<GenerateResult> {
  const arch = model.architecture;
  const [h, w] = arch.imageShape;
  const np = request.promptTokens.length;
  const g = request.samplesPerPrompt;
  if (np === 0) return { tokens: [], logprobs: [], finished: [] };
  if (request.images.length !== np) throw new Error(`generate: ${request.images.length} images for ${np} prompts`);
  if (!Number.isInteger(g) || g < 1) throw new Error(`generate: samplesPerPrompt must be a positive integer, got ${g}`);
  if (!Number.isInteger(request.maxNewTokens) || request.maxNewTokens < 1) {
    throw new Error(`generate: maxNewTokens must be a positive integer, got ${request.maxNewTokens}`);
  }
  const { promptLengths, lp, images, prompt, mask } = packPrompts(request, arch, padId, 'generate');
  const n = np * g;
  const rng = new Rng(request.seed);
  const tokens: number[][] = Array.from({ length: n }, () => []);
  const logprobs: number[][] = Array.from({ length: n }, () => []);
  const finished: boolean[] = new Array<boolean>(n).fill(false);
  const running = (r: number) => !finished[r] && tokens[r]!.length < request.maxNewTokens;

  const inputs = [tf.tensor3d(images, [np, h, w]), tf.tensor2d(prompt, [np, lp], 'int32'), tf.tensor2d(mask, [np, lp])] as const;
  let pre: ReturnType<VlmModel['prefill']>;
  try {
    pre = model.prefill(...inputs);
  } finally {
    tf.dispose([...inputs]);
  }
  let logits: tf.Tensor2D = pre.logits;
  let cache: KvCache = pre.cache;
  // cacheRows[k]: the result row decoded in cache row k; logitRowOf(r): the logits row of result row r.
  let logitRowOf: (r: number) => number = (r) => Math.floor(r / g);
  let cacheRows: number[] = [];
  let first = true;
  try {
    for (;;) {
      const values = (await logits.data()) as Float32Array;
      logits.dispose();
      const v = arch.vocabSize;
      for (let r = 0; r < n; r++) {
        if (!running(r)) continue;
        const s = sampleToken(values, logitRowOf(r) * v, v, request, rng);
        tokens[r]!.push(s.token);
        logprobs[r]!.push(s.logprob);
        if (s.token === eosId) finished[r] = true;
      }
      const active: number[] = [];
      for (let r = 0; r < n; r++) if (running(r)) active.push(r);
      if (active.length === 0) break;
      // Rows the next step decodes: the running ones. After prefill the cache holds one row per prompt and is fanned
      // out to the samples; later it is compacted when a quarter or more of its rows have stopped.
      let rows: number[];
      if (first) {
        first = false;
        rows = active;
        if (!(g === 1 && active.length === np)) {
          const next = cache.selectRows(active.map((r) => Math.floor(r / g)));
          cache.dispose();
          cache = next;
        }
      } else if (active.length * 4 <= cacheRows.length * 3) {
        const index = new Map(cacheRows.map((r, k) => [r, k]));
        const next = cache.selectRows(active.map((r) => index.get(r)!));
        cache.dispose();
        cache = next;
        rows = active;
      } else {
        rows = cacheRows;
      }
      cacheRows = rows;
      // Response token t − 1 sits at text position (prompt length + t − 1); stopped rows get a dummy pad at 0.
      const stepTokens = rows.map((r) => (running(r) ? tokens[r]![tokens[r]!.length - 1]! : padId));
      const positions = rows.map((r) => (running(r) ? promptLengths[Math.floor(r / g)]! + tokens[r]!.length - 1 : 0));
      const out = model.step(stepTokens, positions, cache);
      cache.dispose();
      cache = out.cache;
      logits = out.logits;
      const rowIndex = new Map(rows.map((r, k) => [r, k]));
      logitRowOf = (r) => rowIndex.get(r)!;
    }
  } finally {
    if (!logits.isDisposed) logits.dispose();
    cache.dispose();
  }
  return { tokens, logprobs: logprobs.map((l) => Float32Array.from(l)), finished };
}
