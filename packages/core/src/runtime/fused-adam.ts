import * as tf from '@tensorflow/tfjs';
import { activeBackendHasKernel, registerWebGpuKernels, runProgram, scalarUniforms, type WebGpuProgram } from './webgpu-program.js';

/**
 * Kernel name of the fused Adam update, registered for the `webgpu` backend by {@link registerFusedAdamWebGpu}.
 *
 * Inputs `{ param, grad, m, v }` (same shape, float32); attributes {@link FusedAdamAttrs}; outputs
 * `[param′, m′, v′]`, computed elementwise exactly as tfjs' `AdamOptimizer.applyGradients` does it (Kingma & Ba 2015,
 * Algorithm 1, with ε added to √v̂ as tfjs does):
 *
 *   g  = grad · gradScale
 *   m′ = m·β1 + g·(1 − β1)
 *   v′ = v·β2 + g²·(1 − β2)
 *   param′ = (m′/c1) / (√(v′/c2) + ε) · (−lr) + param,   c1 = 1 − β1^t, c2 = 1 − β2^t
 *
 * Why: tfjs' Adam runs about 14 elementwise kernels per variable (each a dispatch and a buffer), which measured
 * 307 of 559 ms of a train step of the bench model on the H100 (GPU.md); this is 3 dispatches per variable, and
 * global-norm clipping rides along as `gradScale` instead of one more multiply per variable.
 */
export const FUSED_ADAM = 'MmrlFusedAdam';

/** Attributes of {@link FUSED_ADAM}; every value is used as float32. */
export interface FusedAdamAttrs {
  beta1: number;
  beta2: number;
  /** 1 − β1, as tfjs computes it (in double, then float32). */
  oneMinusBeta1: number;
  oneMinusBeta2: number;
  /** Bias corrections 1 − β1^t and 1 − β2^t (float32 values). */
  c1: number;
  c2: number;
  epsilon: number;
  learningRate: number;
  /** Global-norm clipping factor applied to the gradient (1 = none). */
  gradScale: number;
}

const WORKGROUP = 64;

/** One elementwise program over flat float32 buffers named `names`; `body` computes `value` at `index`. */
function elementwiseProgram(key: string, size: number, names: string[], uniforms: string, body: string): WebGpuProgram {
  return {
    outputShape: [size],
    shaderKey: `mmrl_adam_${key}`,
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(size / WORKGROUP), 1, 1],
    variableNames: names,
    uniforms,
    workgroupSize: [WORKGROUP, 1, 1],
    size: true,
    getUserCode: () => `
      fn main(index : i32) {
        if (index < uniforms.size) {
          ${body}
          setOutputAtIndex(index, value);
        }
      }`,
  };
}

/**
 * The three WGSL programs of one update. `first`: m′ from m and g. `second`: v′ from v and g. `param`: param′ from
 * param, m′ and v′ (it runs after the first two, in submission order).
 */
export const FUSED_ADAM_WGSL = {
  first: 'let g = G[index] * uniforms.gradScale; let value = M[index] * uniforms.beta + g * uniforms.oneMinusBeta;',
  second: 'let g = G[index] * uniforms.gradScale; let value = V[index] * uniforms.beta + (g * g) * uniforms.oneMinusBeta;',
  param:
    'let mHat = M[index] / uniforms.c1; let vHat = V[index] / uniforms.c2; ' +
    'let value = (mHat / (sqrt(vHat) + uniforms.epsilon)) * uniforms.negLearningRate + P[index];',
} as const;

function fusedAdamWebGpu({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: unknown }) {
  const { param, grad, m, v } = inputs as Record<'param' | 'grad' | 'm' | 'v', tf.TensorInfo>;
  const a = attrs as unknown as FusedAdamAttrs;
  const size = param.shape.reduce((x, y) => x * y, 1);
  for (const [name, t] of Object.entries({ grad, m, v })) {
    if (t.shape.reduce((x, y) => x * y, 1) !== size) {
      throw new Error(`${FUSED_ADAM}: ${name} has shape [${t.shape}] but param has [${param.shape}]`);
    }
  }
  // Flat views of the same buffers: one pipeline per program whatever the variable's shape.
  const flat = (t: tf.TensorInfo): tf.TensorInfo => ({ dataId: t.dataId, shape: [size], dtype: t.dtype });
  const moments = 'beta : f32, oneMinusBeta : f32, gradScale : f32,';
  const m2 = runProgram(
    backend,
    elementwiseProgram('first', size, ['M', 'G'], moments, FUSED_ADAM_WGSL.first),
    [flat(m), flat(grad)],
    scalarUniforms('float32', a.beta1, a.oneMinusBeta1, a.gradScale),
  );
  const v2 = runProgram(
    backend,
    elementwiseProgram('second', size, ['V', 'G'], moments, FUSED_ADAM_WGSL.second),
    [flat(v), flat(grad)],
    scalarUniforms('float32', a.beta2, a.oneMinusBeta2, a.gradScale),
  );
  const p2 = runProgram(
    backend,
    elementwiseProgram('param', size, ['P', 'M', 'V'], 'c1 : f32, c2 : f32, epsilon : f32, negLearningRate : f32,', FUSED_ADAM_WGSL.param),
    [flat(param), m2, v2],
    scalarUniforms('float32', a.c1, a.c2, a.epsilon, -a.learningRate),
  );
  const shaped = (t: tf.TensorInfo): tf.TensorInfo => ({ dataId: t.dataId, shape: [...param.shape], dtype: 'float32' });
  return [shaped(p2), shaped(m2), shaped(v2)];
}

/**
 * Registers {@link FUSED_ADAM} for the `webgpu` backend. Idempotent. Called by `initBackend` when the webgpu backend
 * is active and kernel fixes are on.
 */
export function registerFusedAdamWebGpu(): void {
  registerWebGpuKernels({ [FUSED_ADAM]: fusedAdamWebGpu });
}

/** Whether the active backend has the fused Adam kernel. */
export function hasFusedAdam(): boolean {
  return activeBackendHasKernel(FUSED_ADAM);
}

/**
 * Runs {@link FUSED_ADAM} on the active backend.
 * @returns `[param′, m′, v′]`, new tensors of `param`'s shape.
 * @throws Error when the active backend has no fused Adam kernel (see {@link hasFusedAdam}).
 */
export function fusedAdamUpdate(
  param: tf.Tensor,
  grad: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  attrs: FusedAdamAttrs,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  if (!hasFusedAdam()) throw new Error(`${FUSED_ADAM} is not registered for the "${tf.getBackend()}" backend`);
  return tf.engine().runKernel(FUSED_ADAM, { param, grad, m, v }, attrs as unknown as tf.NamedAttrMap) as unknown as [
    tf.Tensor,
    tf.Tensor,
    tf.Tensor,
  ];
}
