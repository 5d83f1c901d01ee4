import * as tf from '@tensorflow/tfjs';

/**
 * Number of non-overlapping `patchSize × patchSize` patches of an `[H, W]` image.
 * @throws Error when H or W is not a multiple of `patchSize`.
 */
export function patchCount(imageShape: readonly [number, number], patchSize: number): number {
  const [h, w] = imageShape;
  if (!Number.isInteger(patchSize) || patchSize <= 0 || h % patchSize !== 0 || w % patchSize !== 0) {
    throw new Error(`image ${h}×${w} cannot be cut into ${patchSize}×${patchSize} patches (not divisible)`);
  }
  return (h / patchSize) * (w / patchSize);
}

/**
 * Cuts grey images into non-overlapping patches, row-major over the patch grid; pixels row-major within a patch.
 * @param images `[N, H, W]` float32.
 * @returns `[N, P, patchSize²]` with `P = (H / patchSize) · (W / patchSize)`.
 * @throws Error when H or W is not a multiple of `patchSize`.
 */
export function extractPatches(images: tf.Tensor3D, patchSize: number): tf.Tensor3D {
  const [n, h, w] = images.shape;
  const p = patchCount([h, w], patchSize);
  const gh = h / patchSize;
  const gw = w / patchSize;
  return tf.tidy(() =>
    images
      .reshape([n, gh, patchSize, gw, patchSize])
      .transpose([0, 1, 3, 2, 4])
      .reshape([n, p, patchSize * patchSize]),
  );
}
