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
