import * as tf from '@tensorflow/tfjs';
import type { LayerKv } from './attention.js';

/**
 * Keys and values of every layer for the L positions decoded so far, plus which of them are real (not padding).
 * Owns its tensors: {@link KvCache.dispose} frees them. Immutable: a decoding step returns a new cache (see
 * `VlmModel.step`).
 */
export class KvCache {
  /**
   * @param layers one entry per decoder layer: keys `[L, N, heads, dHead]`, values `[dHead, L, N, heads]`.
   * @param keyMask `[N, L]` float32, 1 on real positions (image, prompt and generated tokens), 0 on left padding.
   */
  constructor(
    readonly layers: readonly LayerKv[],
    readonly keyMask: tf.Tensor2D,
  ) {}

  /** Rows N. */
  get rows(): number {
    return this.keyMask.shape[0];
  }

  /** Positions L held. */
  get length(): number {
    return this.keyMask.shape[1];
  }

  /** A new cache holding rows `indices` (in that order; repeats allowed, e.g. to fan a prompt out to G samples). */
  selectRows(indices: readonly number[]): KvCache {
    const out = tf.tidy(() => {
      const idx = tf.tensor1d(Array.from(indices), 'int32');
      const layers = this.layers.map((l) => ({
        k: tf.gather(l.k, idx, 1) as tf.Tensor4D,
        v: tf.gather(l.v, idx, 2) as tf.Tensor4D,
      }));
      return { layers, keyMask: tf.gather(this.keyMask, idx, 0) as tf.Tensor2D };
    });
    return new KvCache(out.layers, out.keyMask);
  }

  dispose(): void {
    for (const l of this.layers) tf.dispose([l.k, l.v]);
    this.keyMask.dispose();
  }
}
