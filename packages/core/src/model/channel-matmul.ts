import * as tf from '@tensorflow/tfjs';

/**
 * Many small independent matrix products in a channel-last layout:
 * `y[m, c, n] = Σ_k x[m, k, c] · f[k, c, n]` for every channel c (e.g. c = batch row × attention head).
 *
 * Why: the wasm backend runs a batched `BatchMatMul` (both operands batched) on a scalar fallback (~0.6 GFLOP/s),
 * while a depthwise convolution goes through XNNPACK. With `x` as a `[1, M, K, C]` image and `f` as a `[1, K, C, N]`
 * depthwise filter (channel multiplier N), a 'valid' depthwise convolution computes exactly these products, ~3×
 * faster at attention sizes. wasm has no depthwise backprop kernels, so the gradient is written with the same
 * forward convolution. Other backends use a plain batched matMul.
 * @param x `[M, K, C]`.
 * @param f `[K, C, N]`.
 * @returns `[M, C, N]`.
 */
export function channelMatMul(x: tf.Tensor3D, f: tf.Tensor3D): tf.Tensor3D {
  if (x.shape[1] !== f.shape[0] || x.shape[2] !== f.shape[1]) {
    throw new Error(`channelMatMul: x [${x.shape.join(', ')}] does not fit f [${f.shape.join(', ')}]`);
  }
  if (tf.getBackend() !== 'wasm') {
    return tf.tidy(() => tf.matMul(x.transpose([2, 0, 1]), f.transpose([1, 0, 2])).transpose([1, 0, 2]) as tf.Tensor3D);
  }
  return depthwiseChannelMatMul(x, f);
}

function convForward(x: tf.Tensor3D, f: tf.Tensor3D): tf.Tensor3D {
  const [m, k, c] = x.shape;
  const n = f.shape[2];
  return tf.tidy(() => {
    const y = tf.depthwiseConv2d(x.reshape([1, m, k, c]) as tf.Tensor4D, f.reshape([1, k, c, n]) as tf.Tensor4D, 1, 'valid');
    return y.reshape([m, c, n]) as tf.Tensor3D;
  });
}

const depthwiseChannelMatMul = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x3, f3, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
  save([x3, f3]);
  return {
    value: convForward(x3, f3),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sf] = saved as [tf.Tensor3D, tf.Tensor3D];
      const dy3 = dy as tf.Tensor3D; // [M, C, N]
      // dx[m, k, c] = Σ_n dy[m, c, n] · f[k, c, n]
      const dx = convForward(dy3.transpose([0, 2, 1]), sf.transpose([2, 1, 0])).transpose([0, 2, 1]);
      // df[k, c, n] = Σ_m x[m, k, c] · dy[m, c, n]
      const df = convForward(sx.transpose([1, 0, 2]), dy3);
      return [dx, df];
    },
  };
}) as (x: tf.Tensor3D, f: tf.Tensor3D) => tf.Tensor3D;
