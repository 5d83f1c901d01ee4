import * as tf from '@tensorflow/tfjs';
import { fusedAdamUpdate, hasFusedAdam } from '../runtime/fused-adam.js';

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
        // Duck-typed: tfjs' Optimizer defines Symbol.hasInstance, so every optimizer is `instanceof` every subclass.
        if (hasScaledUpdate(optimizer)) {
          // The clipping factor goes into the fused update (one multiply per element, no extra kernel).
          optimizer.applyScaledGradients(
            this.variables.map((v, i) => ({ name: v.name, tensor: this.grads[i] as tf.Tensor })),
            scale,
          );
        } else {
          applyScaled(optimizer, this.variables.map((v, i) => ({ name: v.name, tensor: this.grads[i] as tf.Tensor })), scale);
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

/** An optimizer that takes the clipping factor into its update (see {@link ResumableAdamOptimizer}). */
function hasScaledUpdate(o: tf.Optimizer): o is tf.Optimizer & { applyScaledGradients(g: NamedGradient[], scale: number): void } {
  return typeof (o as { applyScaledGradients?: unknown }).applyScaledGradients === 'function';
}

/** A variable's gradient by variable name; null when the loss does not depend on the variable. */
export interface NamedGradient {
  name: string;
  tensor: tf.Tensor | null;
}

/** `optimizer.applyGradients` with every gradient multiplied by `scale` first (global-norm clipping). */
function applyScaled(optimizer: tf.Optimizer, grads: NamedGradient[], scale: number): void {
  const scaled = grads.map(({ name, tensor }) => ({ name, tensor: tensor === null || scale === 1 ? tensor : tf.mul(tensor, scale) }));
  try {
    optimizer.applyGradients(scaled as { name: string; tensor: tf.Tensor }[]);
  } finally {
    if (scale !== 1) tf.dispose(scaled.map((g) => g.tensor).filter((t): t is tf.Tensor => t !== null));
  }
}

/** The private state of tfjs' Adam: β-power accumulators (`accBeta1 = β1^(t+1)` after t updates) and moment slots. */
interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: tf.Variable }[];
}

/** float32 product, as tfjs computes it (the double product of two float32 values is exact, then rounded once). */
const f32mul = (a: number, b: number) => Math.fround(Math.fround(a) * Math.fround(b));

/**
 * tfjs Adam (Kingma & Ba 2015, Algorithm 1, ε added to √v̂ as tfjs does) with two additions:
 *
 * - Restored state continues bit-exactly. tfjs' `setWeights` sets the bias-correction powers to `pow(β, t + 1)`,
 *   while training reaches them by repeated float32 multiplication; the two differ in the last bits, so a resumed
 *   run would drift from an uninterrupted one. Here they are rebuilt by the same multiplications.
 * - Where the active backend has the fused kernel (`webgpu`, runtime/fused-adam.ts) and `fused` is on, each
 *   variable is updated by one fused kernel (3 dispatches instead of about 14) with the same float32 arithmetic;
 *   the moment slots, their names and the checkpoint format stay tfjs' own, so checkpoints move freely between
 *   backends and between the fused and unfused paths.
 */
export class ResumableAdamOptimizer extends tf.AdamOptimizer {
  /** β1^(t+1) and β2^(t+1) as float32, mirrored on the CPU for the fused kernel's uniforms. */
  private powers: [number, number];

  constructor(
    learningRate: number,
    beta1: number,
    beta2: number,
    epsilon?: number,
    /** Use the fused Adam kernel where the backend has one (default true). */
    public fused = true,
  ) {
    super(learningRate, beta1, beta2, epsilon);
    this.powers = [Math.fround(beta1), Math.fround(beta2)];
  }

  /** Sets the rate of the next updates (trainer.lrSchedule); Adam's moments and bias corrections are unchanged. */
  setLearningRate(learningRate: number): void {
    this.learningRate = learningRate;
  }

  override async setWeights(weightValues: Parameters<tf.AdamOptimizer['setWeights']>[0]): Promise<void> {
    await super.setWeights(weightValues);
    const internals = this as unknown as AdamInternals;
    const steps = this.iterations;
    let [q1, q2] = [Math.fround(this.beta1), Math.fround(this.beta2)];
    for (let t = 0; t < steps; t++) [q1, q2] = [f32mul(q1, this.beta1), f32mul(q2, this.beta2)];
    this.powers = [q1, q2];
    tf.tidy(() => {
      internals.accBeta1.assign(tf.scalar(q1));
      internals.accBeta2.assign(tf.scalar(q2));
    });
  }

  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    const grads = Array.isArray(variableGradients)
      ? variableGradients
      : Object.entries(variableGradients).map(([name, tensor]) => ({ name, tensor }));
    this.applyScaledGradients(grads, 1);
  }

  /**
   * One Adam update from gradients multiplied by `scale` (global-norm clipping), fused where the backend allows.
   * @param grads one entry per variable, in a stable order (slot positions); a null tensor leaves its variable alone.
   */
  applyScaledGradients(grads: NamedGradient[], scale: number): void {
    if (!this.fused || !hasFusedAdam()) {
      const unfused = (g: Parameters<tf.AdamOptimizer['applyGradients']>[0]) => super.applyGradients(g);
      if (scale === 1) unfused(grads as { name: string; tensor: tf.Tensor }[]);
      else applyScaled({ applyGradients: unfused } as tf.Optimizer, grads, scale);
      this.powers = [f32mul(this.powers[0], this.beta1), f32mul(this.powers[1], this.beta2)];
      return;
    }
    const internals = this as unknown as AdamInternals;
    const attrs = {
      beta1: this.beta1,
      beta2: this.beta2,
      oneMinusBeta1: 1 - this.beta1,
      oneMinusBeta2: 1 - this.beta2,
      c1: Math.fround(1 - this.powers[0]),
      c2: Math.fround(1 - this.powers[1]),
      epsilon: this.epsilon,
      learningRate: this.learningRate,
      gradScale: scale,
    };
    grads.forEach(({ name, tensor }, i) => {
      const value = tf.engine().registeredVariables[name];
      if (!value) throw new Error(`Adam: no variable named "${name}"`);
      internals.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
      internals.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
      if (tensor === null || tensor === undefined) return;
      const m = internals.accumulatedFirstMoment[i]!.variable;
      const v = internals.accumulatedSecondMoment[i]!.variable;
      const [p2, m2, v2] = fusedAdamUpdate(value, tensor, m, v, attrs);
      m.assign(m2);
      v.assign(v2);
      value.assign(p2);
      tf.dispose([p2, m2, v2]);
    });
    this.powers = [f32mul(this.powers[0], this.beta1), f32mul(this.powers[1], this.beta2)];
    tf.tidy(() => {
      internals.accBeta1.assign(tf.scalar(this.powers[0]));
      internals.accBeta2.assign(tf.scalar(this.powers[1]));
    });
    this.incrementIterations();
  }
}

/** Adam for the trainers (see {@link ResumableAdamOptimizer}). */
export function createAdam(learningRate: number, beta1 = 0.9, beta2 = 0.999, fused = true): ResumableAdamOptimizer {
  return new ResumableAdamOptimizer(learningRate, beta1, beta2, undefined, fused);
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

