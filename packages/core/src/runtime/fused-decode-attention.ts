import * as tf from '@tensorflow/tfjs';
import { activeBackendHasKernel, registerWebGpuKernels, runProgram, scalarUniforms, type WebGpuProgram } from './webgpu-program.js';

/**
 * Fused attention of one KV-cached decoding step for the `webgpu` backend: the `past` branch of `multiHeadAttention`
 * (model/attention.ts), where one query position per row attends the Lk cached positions (itself included), read in
 * the layouts of the cache (`LayerKv`) as they are. Over C = N·heads channels, channel c = n·heads + h:
 *
 *   s[j,c] = q[c,:]·kAll[j,c,:] + bias[0,n,0,j]                 (q already scaled by 1/√dHead)
 *   m[c]   = max_j s[j,c],   ℓ[c] = Σ_j exp(s[j,c] − m[c])
 *   O[c,:] = Σ_j exp(s[j,c] − m[c]) · vAll[:,j,c] / ℓ[c]         (softmax over the keys j)
 *
 * in one pass over the keys (online softmax): after key j, m is the maximum of the scores so far, and ℓ and the
 * dHead-wide accumulator a = Σ exp(s − m)·v are relative to it; a new maximum m' rescales both by exp(m − m'):
 *
 *   m' = max(m, s[j]),   ℓ' = ℓ·exp(m − m') + exp(s[j] − m'),   a' = a·exp(m − m') + exp(s[j] − m')·vAll[:,j,c]
 *
 * starting from key 0 (m = s[0], ℓ = 1, a = vAll[:,0,c]), and O = a / ℓ. m and ℓ stay two numbers and are never
 * folded into a logsumexp m + log ℓ: a masked score is about MASKED_SCORE = −1e9, where float32 steps by 64, so
 * m + log ℓ would round back to m in a row whose keys are all masked. Such a row (in float32, every score rounds to
 * the same multiple of 64, as in the composed path, which adds the bias to the same float32 dot) has ℓ = its key
 * count and gets the plain average of its values: finite, and what the composed softmax gives.
 *
 * One dispatch, against 11 for the same attention composed from tfjs ops (`composedDecodeAttention` in
 * model/attention.ts: the product and the sum of the scores, a transpose, the bias add, the softmax, a transpose,
 * `channelMatMul` (three transposes around a batched matMul) and a last transpose); a decoding step of
 * `multiHeadAttention` (d = 16, 2 heads, 4 rows) goes from 19 dispatches to 9. The growth of the cache stays as it
 * was (the two concatenations and the transpose of the new values, 3 dispatches): a program has one output, and the
 * step must return the grown cache in its layouts anyway.
 *
 * Layout: one thread per channel (C threads, workgroups of 64 consecutive channels), holding q[c,:] and a in
 * dHead-wide registers and looping over all Lk keys. The values `[dHead, Lk, N, heads]` have the channel innermost,
 * so for each (t, j) a workgroup reads 64 consecutive floats; the keys `[Lk, N, heads, dHead]` are read row by row.
 * Chosen over a workgroup per channel with reductions: it needs no workgroup memory or barriers, reads the values
 * coalesced (a workgroup per channel would read them C apart), and sampling batches give C = N·heads in the hundreds
 * (128 rows × 4 heads in the sampling benchmark). Its parallelism is C threads, not C·Lk: with few rows and long
 * caches a split over the keys would use more of a GPU.
 *
 * Forward only: no gradient is registered (decoding runs without a tape); differentiating through it fails in tfjs
 * ("gradient function not found for MmrlDecodeAttention"). Kernel {@link DECODE_ATTENTION}: inputs
 * `{ q, k, v, bias }` with q `[N, heads, dHead]`, k `[Lk, N, heads, dHead]`, v `[dHead, Lk, N, heads]`, bias
 * `[1, N, 1, Lk]` → O `[N, heads, dHead]`.
 */
export const DECODE_ATTENTION = 'MmrlDecodeAttention';

/** Threads per workgroup; each thread computes the context of one channel. */
const WG = 64;

/** WGSL body (exported for review next to the equations above); `ch` is the thread's channel. */
export const DECODE_ATTENTION_WGSL = `
        var qc : array<f32, DH>;
        for (var t = 0; t < DH; t++) { qc[t] = Q[ch * DH + t]; }
        let biasRow = (ch / uniforms.heads) * uniforms.lk;
        let vStride = uniforms.lk * uniforms.c;
        var m = 0.0;
        var l = 0.0;
        var acc : array<f32, DH>;
        for (var j = 0; j < uniforms.lk; j++) {
          let kb = (j * uniforms.c + ch) * DH;
          var dot = 0.0;
          for (var t = 0; t < DH; t++) { dot = dot + qc[t] * K[kb + t]; }
          let score = dot + Bias[biasRow + j];
          let vb = j * uniforms.c + ch;
          if (j == 0) {
            m = score;
            l = 1.0;
            for (var t = 0; t < DH; t++) { acc[t] = V[t * vStride + vb]; }
          } else {
            let mNew = max(m, score);
            let rescale = exp(m - mNew);
            let p = exp(score - mNew);
            l = l * rescale + p;
            for (var t = 0; t < DH; t++) { acc[t] = acc[t] * rescale + p * V[t * vStride + vb]; }
            m = mNew;
          }
        }
        for (var t = 0; t < DH; t++) { setOutputAtIndex(ch * DH + t, acc[t] / l); }`;

/** One thread per channel, `C` threads; `dh` is compiled in (`DH`): q[c,:] and the accumulator are registers. */
function decodeProgram(n: number, heads: number, dh: number): WebGpuProgram {
  const outputShape = [n, heads, dh];
  return {
    outputShape,
    shaderKey: `mmrl_decode_attention_${dh}`,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [Math.ceil((n * heads) / WG), 1, 1],
    variableNames: ['Q', 'K', 'V', 'Bias'],
    uniforms: 'lk : i32, c : i32, heads : i32,',
    workgroupSize: [WG, 1, 1],
    size: false,
    getUserCode: () => `
      const DH : i32 = ${dh};
      fn main(index : i32) {
        if (index >= uniforms.c) { return; }
        let ch = index;
        ${DECODE_ATTENTION_WGSL}
      }`,
  };
}

type Info = tf.TensorInfo;

/**
 * Checks the shapes of one decoding step: q `[N, heads, dHead]`, k `[Lk, N, heads, dHead]`, v `[dHead, Lk, N, heads]`,
 * bias `[1, N, 1, Lk]`, all float32 with no empty axis.
 * @returns N, heads, dHead and Lk.
 * @throws Error naming the kernel and the offending input.
 */
function dimsOf(q: Info, k: Info, v: Info, bias: Info): { n: number; heads: number; dh: number; lk: number } {
  const kernel = DECODE_ATTENTION;
  if (q.shape.length !== 3 || q.shape.some((x) => x < 1)) {
    throw new Error(`${kernel}: q must be [N, heads, dHead] with no empty axis, got [${q.shape}]`);
  }
  const [n, heads, dh] = q.shape as [number, number, number];
  const lk = k.shape[0]!;
  if (k.shape.length !== 4 || !(lk >= 1) || k.shape[1] !== n || k.shape[2] !== heads || k.shape[3] !== dh) {
    throw new Error(`${kernel}: k must be [Lk, ${n}, ${heads}, ${dh}] (Lk ≥ 1) for q [${q.shape}], got [${k.shape}]`);
  }
  const expected: [string, Info, number[]][] = [
    ['v', v, [dh, lk, n, heads]],
    ['bias', bias, [1, n, 1, lk]],
  ];
  for (const [name, t, shape] of expected) {
    if (t.shape.length !== shape.length || t.shape.some((x, i) => x !== shape[i])) {
      throw new Error(`${kernel}: ${name} must be [${shape}] for k [${k.shape}], got [${t.shape}]`);
    }
  }
  for (const [name, t] of Object.entries({ q, k, v, bias })) {
    if (t.dtype !== 'float32') throw new Error(`${kernel}: ${name} must be float32, got ${t.dtype}`);
  }
  return { n, heads, dh, lk };
}

function decodeKernel({ inputs, backend }: { inputs: tf.NamedTensorInfoMap; backend: unknown }) {
  const { q, k, v, bias } = inputs as Record<'q' | 'k' | 'v' | 'bias', Info>;
  const { n, heads, dh, lk } = dimsOf(q, k, v, bias);
  return runProgram(backend, decodeProgram(n, heads, dh), [q, k, v, bias], scalarUniforms('int32', lk, n * heads, heads));
}

/** Registers the decoding attention kernel for the `webgpu` backend. Idempotent. */
export function registerFusedDecodeAttentionWebGpu(): void {
  registerWebGpuKernels({ [DECODE_ATTENTION]: decodeKernel });
}

/** Whether the active backend has the fused decoding attention kernel. */
export function hasFusedDecodeAttention(): boolean {
  return activeBackendHasKernel(DECODE_ATTENTION);
}

/**
 * The attention of one KV-cached decoding step with the fused kernel (one dispatch). Forward only: no gradient.
 * @param q `[N, heads, dHead]` float32 queries of the new position, already scaled by 1/√dHead (channel
 *   c = n·heads + h).
 * @param kAll `[Lk, N, heads, dHead]` keys of all Lk positions, the new one included (the cache layout).
 * @param vAll `[dHead, Lk, N, heads]` values of all Lk positions (the cache layout).
 * @param bias `[1, N, 1, Lk]`: the additive mask of `attentionBias(keyMask, 1, causal)`.
 * @returns the context `[N, heads, dHead]`: O[n,h,:] = Σ_j softmax_j(q[n,h,:]·kAll[j,n,h,:] + bias[0,n,0,j])
 *   vAll[:,j,n,h].
 * @throws Error when the active backend has no fused decoding attention (see {@link hasFusedDecodeAttention}), or
 *   when the shapes or dtypes do not fit (from the kernel).
 */
export function fusedDecodeAttention(q: tf.Tensor3D, kAll: tf.Tensor4D, vAll: tf.Tensor4D, bias: tf.Tensor4D): tf.Tensor3D {
  if (!hasFusedDecodeAttention()) throw new Error(`${DECODE_ATTENTION} is not registered for the "${tf.getBackend()}" backend`);
  return tf.engine().runKernel(DECODE_ATTENTION, { q, k: kAll, v: vAll, bias }) as tf.Tensor3D;
}
