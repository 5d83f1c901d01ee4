import * as tf from '@tensorflow/tfjs';
import { Rng } from '@mmrl/core';

/** Where and how {@link patchKeepMask} blackens patches. */
export interface PatchBlackening {
  /** Side of a square patch in pixels (VPPO: 14, the patch size of Qwen2.5-VL's vision encoder). */
  patchSize: number;
  /** Probability that a patch is blackened (VPPO: 0.5). */
  probability: number;
  /** Seed of the draws: the same seed gives the same patches. */
  seed: number;
}

/**
 * VPPO's image perturbation as a multiplicative mask (`random_patch_blackening` of the official code,
 * `verl/workers/perc_utils.py`): each image `[H, W]` is cut into `patchSize × patchSize` patches from the top-left
 * corner (patches at the right and bottom edges are cut to the image), and each patch is blackened (set to 0) with
 * probability `probability`, independently per image and patch. The draws come from one seeded {@link Rng}: image by
 * image, patches row-major, one `next() < probability` each.
 * @returns `[n, height, width]` row-major, 0 on blackened pixels and 1 elsewhere.
 */
export function patchKeepMask(n: number, height: number, width: number, { patchSize, probability, seed }: PatchBlackening): Float32Array {
  const keep = new Float32Array(n * height * width).fill(1);
  const rng = new Rng(seed);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < height; y += patchSize) {
      for (let x = 0; x < width; x += patchSize) {
        if (rng.next() >= probability) continue;
        for (let yy = y; yy < Math.min(y + patchSize, height); yy++) {
          keep.fill(0, i * height * width + yy * width + x, i * height * width + yy * width + Math.min(x + patchSize, width));
        }
      }
    }
  }
  return keep;
}

/**
 * The images `[N, H, W]` with random patches blackened ({@link patchKeepMask}): a new tensor, which the caller
 * disposes.
 */
export function blackenPatches(images: tf.Tensor3D, blackening: PatchBlackening): tf.Tensor3D {
  const [n, height, width] = images.shape;
  return tf.tidy(() => tf.mul(images, tf.tensor3d(patchKeepMask(n, height, width, blackening), [n, height, width])) as tf.Tensor3D);
}
