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

/** A loss function for one (micro-)batch: the scalar to minimise plus scalars to log. */
export type LossFunction = () => { loss: tf.Scalar; metrics: Record<string, tf.Scalar> };

/**
 * Gradient accumulation over micro-batches: {@link add} computes the gradients of one micro-batch's share of the
 * mini-batch loss and adds them (and the loss and metric scalars) to running sums; {@link apply} then makes ONE
 * optimizer update from the sums. Summing shares is exact when each share is normalised by the whole mini-batch's
 * denominators (METHODS.md §5.3). Owns its tensors: call {@link apply} or {@link dispose} exactly once.
 */
export class GradientAccumulator {
  private readonly grads: (tf.Tensor | null)[];
  private lossSum: tf.Scalar | null = null;
  private readonly metricSums: Record<string, tf.Scalar> = {};
  private parts = 0;

  constructor(readonly variables: readonly tf.Variable[]) {
    this.grads = variables.map(() => null);
  }

  /** Number of micro-batches added. */
  get count(): number {
    return this.parts;
  }

  /** Adds the gradients of `lossFn` (one micro-batch's share of the loss) with respect to the variables. */
  add(lossFn: LossFunction): void {
    let metricTensors: Record<string, tf.Scalar> = {};
    const { value, grads } = tf.variableGrads(() => {
      const out = lossFn();
      metricTensors = Object.fromEntries(Object.entries(out.metrics).map(([k, v]) => [k, tf.keep(v.clone())]));
      return out.loss;
    }, this.variables as tf.Variable[]);
    this.variables.forEach((v, i) => {
      const g = grads[v.name];
      if (!g) return;
      const prev = this.grads[i];
      if (prev) {
        this.grads[i] = tf.add(prev, g);
        tf.dispose([prev, g]);
      } else {
        this.grads[i] = g;
      }
    });
    this.lossSum = this.accumulate(this.lossSum, value);
    for (const [k, t] of Object.entries(metricTensors)) this.metricSums[k] = this.accumulate(this.metricSums[k] ?? null, t);
    this.parts++;
  }

  /** The summed gradient of each variable (in `variables` order; null where the loss does not depend on it). */
  gradients(): readonly (tf.Tensor | null)[] {
    return this.grads;
  }

  /** Reads the summed loss, metrics and the global gradient norm (async reads only: webgpu-safe). */
  async read(): Promise<{ loss: number; gradNorm: number; metrics: Record<string, number> }> {
    const present = this.grads.filter((g): g is tf.Tensor => g !== null);
    const norm = tf.tidy(() => (present.length ? tf.sqrt(sumTensors(present.map((g) => tf.sum(tf.square(g))))) : tf.scalar(0)));
    const names = Object.keys(this.metricSums);
    const [lossValue, normValue, ...metricValues] = await Promise.all([
      this.lossSum ? this.lossSum.data() : Promise.resolve(Float32Array.of(NaN)),
      norm.data(),
      ...names.map((k) => this.metricSums[k]!.data()),
    ]);
    norm.dispose();
    return {
      loss: lossValue![0]!,
      gradNorm: normValue![0]!,
      metrics: Object.fromEntries(names.map((k, i) => [k, metricValues[i]![0]!])),
    };
  }

  /**
   * One update from the summed gradients: a non-finite check (a NaN/Inf loss or gradient skips the update entirely:
   * `applyGradients` is not called, so neither the weights nor the optimizer's moments or step count change),
   * global-norm clipping to `maxGradNorm` (0 = off), then `optimizer.applyGradients` with every variable in
   * `variables` order (stable slot positions; a variable without gradient is passed as null and left alone).
   * Disposes the accumulated tensors.
   */
  async apply(optimizer: tf.Optimizer, maxGradNorm: number): Promise<UpdateResult> {
    try {
      const { loss, gradNorm, metrics } = await this.read();
      // A squared norm that overflows float32 also reads as non-finite: such an update is skipped too.
      const skipped = this.parts === 0 || !Number.isFinite(loss) || !Number.isFinite(gradNorm);
      if (!skipped) {
        const scale = maxGradNorm > 0 && gradNorm > maxGradNorm ? maxGradNorm / gradNorm : 1;
        const scaled = this.grads.map((g) => (g === null ? null : scale === 1 ? g : tf.mul(g, scale)));
        try {
          optimizer.applyGradients(
            this.variables.map((v, i) => ({ name: v.name, tensor: scaled[i] as tf.Tensor })),
          );
        } finally {
          if (scale !== 1) tf.dispose(scaled.filter((g): g is tf.Tensor => g !== null));
        }
      }
      return { gradNorm, skipped, loss, metrics };
    } finally {
      this.dispose();
    }
  }

  dispose(): void {
    tf.dispose([
      ...this.grads.filter((g): g is tf.Tensor => g !== null),
      ...(this.lossSum ? [this.lossSum] : []),
      ...Object.values(this.metricSums),
    ]);
    this.grads.fill(null);
    this.lossSum = null;
    for (const k of Object.keys(this.metricSums)) delete this.metricSums[k];
  }

  private accumulate(sum: tf.Scalar | null, value: tf.Scalar): tf.Scalar {
    if (!sum) return value;
    const next = tf.add(sum, value) as tf.Scalar;
    tf.dispose([sum, value]);
    return next;
  }
}

/**
 * One optimizer update: gradients of `lossFn` with respect to `variables`, a non-finite check (a NaN/Inf loss or
 * gradient skips the update: it never reaches the weights nor the optimizer state), global-norm clipping to
 * `maxGradNorm` (0 = off), then `optimizer.applyGradients`. Only async reads (webgpu-safe).
 * For several micro-batches per update use {@link GradientAccumulator}.
 */
export async function optimizerStep(
  optimizer: tf.Optimizer,
  variables: tf.Variable[],
  lossFn: LossFunction,
  maxGradNorm: number,
): Promise<UpdateResult> {
  const acc = new GradientAccumulator(variables);
  try {
    acc.add(lossFn);
  } catch (e) {
    acc.dispose();
    throw e;
  }
  return acc.apply(optimizer, maxGradNorm);
}

/** The private β-power accumulators of tfjs' Adam (`accBeta1 = β1^(t+1)` after t updates). */
interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}

/**
 * tfjs Adam whose restored state continues bit-exactly. tfjs' `setWeights` sets the bias-correction powers to
 * `pow(β, t + 1)`, while training reaches them by repeated float32 multiplication; the two differ in the last bits,
 * so a resumed run would drift from an uninterrupted one. Here they are rebuilt by the same multiplications.
 */
export class ResumableAdamOptimizer extends tf.AdamOptimizer {
  override async setWeights(weightValues: Parameters<tf.AdamOptimizer['setWeights']>[0]): Promise<void> {
    await super.setWeights(weightValues);
    const internals = this as unknown as AdamInternals;
    const steps = this.iterations;
    tf.tidy(() => {
      let p1: tf.Tensor = tf.scalar(this.beta1);
      let p2: tf.Tensor = tf.scalar(this.beta2);
      for (let t = 0; t < steps; t++) {
        p1 = tf.mul(p1, this.beta1);
        p2 = tf.mul(p2, this.beta2);
      }
      internals.accBeta1.assign(p1);
      internals.accBeta2.assign(p2);
    });
  }
}

/** Adam for the trainers (see {@link ResumableAdamOptimizer}). */
export function createAdam(learningRate: number, beta1 = 0.9, beta2 = 0.999): ResumableAdamOptimizer {
  return new ResumableAdamOptimizer(learningRate, beta1, beta2);
}

/**
 * Σ of same-shape tensors as a tree of `tf.addN` over at most 4 inputs each: one `addN` over many tensors binds one
 * storage buffer per input, and WebGPU allows 8 per shader stage by default (tfjs webgpu then fails validation and
 * the sum silently misses terms; seen on the H100 with the 74 variables of the student policy). Call inside `tf.tidy`.
 * @throws Error on an empty list.
 */
export function sumTensors<T extends tf.Tensor>(tensors: readonly T[], fanIn = 4, addN: typeof tf.addN = tf.addN): T {
  if (tensors.length === 0) throw new Error('sumTensors: empty list');
  let level: tf.Tensor[] = [...tensors];
  while (level.length > 1) {
    const next: tf.Tensor[] = [];
    for (let i = 0; i < level.length; i += fanIn) {
      const part = level.slice(i, i + fanIn);
      next.push(part.length === 1 ? part[0]! : addN(part));
    }
    level = next;
  }
  return level[0] as T;
}

