import * as tf from '@tensorflow/tfjs';

export interface UpdateResult {
  /** Global gradient L2 norm before clipping. */
  gradNorm: number;
  /** True when the update was skipped because the loss or a gradient was not finite. */
  skipped: boolean;
  /** Loss value. */
  loss: number;
  /** Extra scalars returned by the loss function. */
  metrics: Record<string, number>;
}

/**
 * One optimizer update: gradients of `lossFn` with respect to `variables`, a non-finite check (a NaN/Inf loss or
 * gradient skips the update: it never reaches the weights), global-norm clipping to `maxGradNorm` (0 = off), then
 * `optimizer.applyGradients`. Only async reads (webgpu-safe).
 */
export async function optimizerStep(
  optimizer: tf.Optimizer,
  variables: tf.Variable[],
  lossFn: () => { loss: tf.Scalar; metrics: Record<string, tf.Scalar> },
  maxGradNorm: number,
): Promise<UpdateResult> {
  let metricTensors: Record<string, tf.Scalar> = {};
  const { value, grads } = tf.variableGrads(() => {
    const out = lossFn();
    metricTensors = Object.fromEntries(Object.entries(out.metrics).map(([k, v]) => [k, tf.keep(v.clone())]));
    return out.loss;
  }, variables);
  const norm = tf.tidy(() => tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g))))));
  const names = Object.keys(metricTensors);
  const [lossValue, normValue, ...metricValues] = await Promise.all([
    value.data(),
    norm.data(),
    ...names.map((k) => metricTensors[k]!.data()),
  ]);
  const loss = lossValue![0]!;
  const gradNorm = normValue![0]!;
  const metrics = Object.fromEntries(names.map((k, i) => [k, metricValues[i]![0]!]));
  const skipped = !Number.isFinite(loss) || !Number.isFinite(gradNorm);
  if (!skipped) {
    const scale = maxGradNorm > 0 && gradNorm > maxGradNorm ? maxGradNorm / gradNorm : 1;
    const scaled = tf.tidy(() =>
      Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, scale === 1 ? g.clone() : tf.mul(g, scale)])),
    );
    optimizer.applyGradients(scaled as tf.NamedTensorMap);
    tf.dispose(Object.values(scaled));
  }
  tf.dispose([value, norm, ...Object.values(grads), ...Object.values(metricTensors)]);
  return { gradNorm, skipped, loss, metrics };
}
