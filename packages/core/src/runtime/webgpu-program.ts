import * as tf from '@tensorflow/tfjs';

/**
 * The part of tfjs' WebGPUProgram interface (tfjs-backend-webgpu 4.22 `webgpu_program.ts`) that mmrl's WGSL
 * kernels use. tfjs generates the bindings: the output buffer `result` (written through `setOutputAtIndex`), one
 * read-only storage buffer per name in `variableNames`, and a `uniforms` struct holding its own fields (NAN, shapes,
 * `size` when `size` is true) followed by the fields declared in `uniforms` (e.g. `'d : i32, eps : f32,'`), which
 * are passed to {@link runProgram} in the same order, one entry per field.
 */
export interface WebGpuProgram {
  outputShape: number[];
  /** Pipeline cache key (with the input ranks and types appended by tfjs). */
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  uniforms: string;
  workgroupSize: [number, number, number];
  /** Adds `uniforms.size` = the output's element count. */
  size: boolean;
  /** WGSL defining `fn main(index : i32)`; `localId`, `globalId` and `workgroupId` are module globals. */
  getUserCode(): string;
}

/** One field of the program's `uniforms` declaration. */
export interface ProgramUniform {
  type: 'float32' | 'int32';
  data: number[];
}

/**
 * Program uniforms for scalar fields, one entry per field in declaration order (tfjs lays an entry holding n values
 * out as a vector, so scalars must not be grouped).
 */
export function scalarUniforms(type: ProgramUniform['type'], ...values: number[]): ProgramUniform[] {
  return values.map((x) => ({ type, data: [x] }));
}

/** The method of tfjs' WebGPUBackend that runs a program (records one dispatch; submission is batched). */
interface WebGpuBackendLike {
  runWebGPUProgram(program: WebGpuProgram, inputs: tf.TensorInfo[], outputDtype: tf.DataType, uniforms?: ProgramUniform[]): tf.TensorInfo;
}

/**
 * Runs `program` on the webgpu backend handed to a kernel function (one dispatch) into a new float32 output.
 * @throws Error when `backend` is not tfjs' WebGPUBackend.
 */
export function runProgram(backend: unknown, program: WebGpuProgram, inputs: tf.TensorInfo[], uniforms: ProgramUniform[]): tf.TensorInfo {
  const gpu = backend as Partial<WebGpuBackendLike>;
  if (typeof gpu.runWebGPUProgram !== 'function') throw new Error(`${program.shaderKey}: not the webgpu backend`);
  return gpu.runWebGPUProgram(program, inputs, 'float32', uniforms);
}

/**
 * Counts the compute dispatches the active webgpu backend records while `fn` runs (its calls of
 * `runWebGPUProgram`, tfjs' kernels and mmrl's alike): the number that per-op overhead scales with on a GPU.
 * @returns the count, or null when the active backend is not webgpu (`fn` still runs).
 */
export async function countWebGpuDispatches(fn: () => unknown): Promise<number | null> {
  if (tf.getBackend() !== 'webgpu') {
    await fn();
    return null;
  }
  const gpu = tf.backend() as unknown as { runWebGPUProgram: (...a: unknown[]) => unknown };
  const original = gpu.runWebGPUProgram;
  let n = 0;
  gpu.runWebGPUProgram = function (this: unknown, ...a: unknown[]) {
    n++;
    return original.apply(this, a);
  };
  try {
    await fn();
  } finally {
    gpu.runWebGPUProgram = original;
  }
  return n;
}

/**
 * Registers mmrl's kernels for the `webgpu` backend, by name. Idempotent: nothing happens when the first is already
 * registered (they are registered together).
 */
export function registerWebGpuKernels(kernels: Record<string, unknown>): void {
  const entries = Object.entries(kernels);
  if (entries.length === 0 || tf.getKernel(entries[0]![0], 'webgpu')) return;
  for (const [kernelName, kernelFunc] of entries) {
    tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc: kernelFunc as tf.KernelFunc });
  }
}

/** Whether the active backend has the kernel `name` (how the model picks a fused path). */
export function activeBackendHasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}
