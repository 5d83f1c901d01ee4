import * as tf from '@tensorflow/tfjs';

let wasmMatMulPatched = false;

/**
 * Replaces the wasm backend's `BatchMatMul` with one that transposes a transposed operand explicitly first.
 *
 * Why: the wasm kernel with `transposeA`/`transposeB` is 20–50× slower than a plain product (measured here:
 * 512×256ᵀ·512×1024 237 ms vs 11.5 ms), and every backward pass of a matMul uses a transposed operand.
 * The explicit `Transpose` costs one memory pass. Idempotent; a no-op when the wasm backend is not registered.
 */
export function patchWasmBatchMatMul(): void {
  if (wasmMatMulPatched) return;
  const original = tf.getKernel('BatchMatMul', 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!original || !transpose) return;
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({
    kernelName: 'BatchMatMul',
    backendName: 'wasm',
    setupFunc: original.setupFunc,
    disposeFunc: original.disposeFunc,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      const temps: tf.TensorInfo[] = [];
      const explicit = (x: tf.TensorInfo): tf.TensorInfo => {
        const rank = x.shape.length;
        const perm = [...Array(rank).keys()];
        [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
        const out = transpose.kernelFunc({ inputs: { x }, backend, attrs: { perm } }) as tf.TensorInfo;
        temps.push(out);
        return out;
      };
      const a2 = transposeA ? explicit(a) : a;
      const b2 = transposeB ? explicit(b) : b;
      const result = original.kernelFunc({
        inputs: { a: a2, b: b2 },
        backend,
        attrs: { ...attrs, transposeA: false, transposeB: false },
      }) as tf.TensorInfo;
      for (const t of temps) (backend as tf.KernelBackend).disposeData(t.dataId);
      return result;
    },
  });
  wasmMatMulPatched = true;
}

let wasmIdentityPatched = false;

/**
 * Replaces the wasm backend's `Identity` (a copy into new memory) with one that shares the input's memory and counts a
 * reference, as tfjs's cpu and webgpu backends and the wasm backend's own `Reshape` do. Tensors are immutable and a
 * variable's `assign` swaps its data instead of writing into it, so sharing is safe.
 *
 * Why: `tf.clone` runs `Identity`, and tfjs clones every tensor a `customGrad` op saves for its backward pass, so each
 * `tf.fused.matMul` (every dense layer) copied its input and output during training: 453 copies, 82 ms of a
 * 1.2 s vlm-student train step (`tf.profile`, 2 threads). Idempotent; a no-op when the wasm backend is not registered.
 */
export function patchWasmIdentity(): void {
  if (wasmIdentityPatched) return;
  const original = tf.getKernel('Identity', 'wasm');
  if (!original) return;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({
    kernelName: 'Identity',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      if (x.dtype === 'string') return original.kernelFunc(args);
      (args.backend as tf.KernelBackend & { incRef(dataId: object): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });
  wasmIdentityPatched = true;
}
