import * as tf from '@tensorflow/tfjs';
import type { SequenceBatch } from '../contracts/policy.js';

/** One row to collate: a prompt image and tokens plus a response. */
export interface SequenceRow {
  image: Float32Array;
  promptTokens: readonly number[];
  responseTokens: readonly number[];
}

/**
 * Collates rows into padded tensors: prompts left-padded to the longest prompt `Lp`, responses right-padded to
 * `responseLength` (default: the longest response, at least 1).
 * @param imageShape `[H, W]` of every image.
 * @throws Error when an image has the wrong size or a response is longer than `responseLength`.
 */
export function collateSequences(
  rows: readonly SequenceRow[],
  imageShape: readonly [number, number],
  padId: number,
  responseLength?: number,
): SequenceBatch {
  const n = rows.length;
  const [h, w] = imageShape;
  const lp = Math.max(1, ...rows.map((r) => r.promptTokens.length));
  const t = responseLength ?? Math.max(1, ...rows.map((r) => r.responseTokens.length));
  const images = new Float32Array(n * h * w);
  const prompt = new Int32Array(n * lp).fill(padId);
  const promptMask = new Float32Array(n * lp);
  const response = new Int32Array(n * t).fill(padId);
  const responseMask = new Float32Array(n * t);
  rows.forEach((r, i) => {
    if (r.image.length !== h * w) throw new Error(`collateSequences: row ${i} image has ${r.image.length} pixels, expected ${h}×${w}`);
    if (r.responseTokens.length > t) {
      throw new Error(`collateSequences: row ${i} response has ${r.responseTokens.length} tokens, limit ${t}`);
    }
    images.set(r.image, i * h * w);
    const off = lp - r.promptTokens.length;
    r.promptTokens.forEach((tok, j) => {
      prompt[i * lp + off + j] = tok;
      promptMask[i * lp + off + j] = 1;
    });
    r.responseTokens.forEach((tok, j) => {
      response[i * t + j] = tok;
      responseMask[i * t + j] = 1;
    });
  });
  return {
    images: tf.tensor3d(images, [n, h, w]),
    promptTokens: tf.tensor2d(prompt, [n, lp], 'int32'),
    promptMask: tf.tensor2d(promptMask, [n, lp]),
    responseTokens: tf.tensor2d(response, [n, t], 'int32'),
    responseMask: tf.tensor2d(responseMask, [n, t]),
  };
}

/** Slices rows `[start, end)` of a batch (new tensors). */
export function sliceBatch(batch: SequenceBatch, start: number, end: number): SequenceBatch {
  const n = end - start;
  return {
    images: batch.images.slice([start, 0, 0], [n, -1, -1]),
    promptTokens: batch.promptTokens.slice([start, 0], [n, -1]),
    promptMask: batch.promptMask.slice([start, 0], [n, -1]),
    responseTokens: batch.responseTokens.slice([start, 0], [n, -1]),
    responseMask: batch.responseMask.slice([start, 0], [n, -1]),
  };
}

export function disposeBatch(batch: SequenceBatch): void {
  tf.dispose([batch.images, batch.promptTokens, batch.promptMask, batch.responseTokens, batch.responseMask]);
}
