import * as tf from '@tensorflow/tfjs';
import { activeBackendHasKernel, registerWebGpuKernels, runProgram, scalarUniforms, type WebGpuProgram } from './webgpu-program.js';

/**
 * Fused multi-head scaled dot-product attention for the `webgpu` backend: the training/prefill attention of
 * `multiHeadAttention` (model/attention.ts) without a KV cache. Over C = N·heads channels, channel c = n·heads + h:
 *
 *   s[i,j,c] = q[i,c,:]·k[j,c,:] + bias[i or 0, n, 0, j]        (q already scaled by 1/√dHead)
 *   m[i,c]   = max_j s[i,j,c],   ℓ[i,c] = log Σ_j exp(s[i,j,c] − m[i,c])
 *   P[i,j,c] = exp((s[i,j,c] − m[i,c]) − ℓ[i,c])                 (softmax over the keys j)
 *   O[i,c,:] = Σ_j P[i,j,c] · v[j,c,:]
 *
 * The row logsumexp m + ℓ is kept as its two terms: a masked score is about MASKED_SCORE = −1e9, where float32
 * steps by 64, so in a row whose keys are all masked m + ℓ would round back to m and lose ℓ.
 *
 * Backward (FlashAttention-style: P is recomputed from q, k, the bias and (m, ℓ), never stored), with dO = ∂L/∂O:
 *
 *   D[i,c]    = dO[i,c,:]·O[i,c,:]
 *   dP[i,j,c] = dO[i,c,:]·v[j,c,:],   dS = P ⊙ (dP − D)
 *   dq[i,c,:] = Σ_j dS[i,j,c] · k[j,c,:]
 *   dk[j,c,:] = Σ_i dS[i,j,c] · q[i,c,:]
 *   dv[j,c,:] = Σ_i P[i,j,c]  · dO[i,c,:]
 *
 * The bias is a constant (no gradient). Forward: 2 dispatches (statistics, context); backward: 4 (D, dq, dk, dv),
 * against 9 and 12 for the same attention composed from tfjs ops (`composedAttention` in model/attention.ts: three
 * transposes, two batched matMuls, the bias add and the softmax, and their gradients). Each program runs one thread
 * per row (i, c) or (j, c), rows ordered channel-major so that the threads of a workgroup share the channel and read
 * the same key (or query) row at the same time; each thread keeps its own dHead-wide rows in registers and loops over
 * all S positions of the other side. Kernels, with q, k, v, O, dO `[S, C, dHead]` and the bias `[S or 1, N, 1, S]`:
 * - {@link ATTENTION_STATS}: inputs `{ q, k, bias }` → `[S, C, 2]` (m, ℓ);
 * - {@link ATTENTION_CONTEXT}: inputs `{ q, k, v, bias, stats }` → O `[S, C, dHead]`;
 * - {@link ATTENTION_GRAD}: inputs `{ q, k, v, bias, stats, out, dy }` → `[dq, dk, dv]`.
 */
export const ATTENTION_STATS = 'MmrlAttentionStats';
export const ATTENTION_CONTEXT = 'MmrlAttentionContext';
export const ATTENTION_GRAD = 'MmrlAttentionGrad';

/** Threads per workgroup; each thread computes one row (i, c) or (j, c). */
const WG = 64;

/** Uniform fields shared by every attention program (S, C, heads, and the bias offset of one query row). */
const UNIFORMS = 's : i32, c : i32, heads : i32, biasQueryStride : i32,';

/**
 * One thread per row of `[S, C, ·]`, `S·C` threads. `main` sets `pos` (the position i or j of the row), `ch` (its
 * channel), `row` = pos·C + ch (its index in `[S·C, ·]`) and `biasHead` (offset of bias[·, n, 0, 0]) before `body`.
 * `dh` is compiled in (`DH`): the per-thread rows are `array<f32, DH>` registers.
 */
function rowProgram(key: string, outputShape: number[], rows: number, dh: number, names: string[], body: string): WebGpuProgram {
  return {
    outputShape,
    shaderKey: `mmrl_attention_${key}_${dh}`,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [Math.ceil(rows / WG), 1, 1],
    variableNames: names,
    uniforms: UNIFORMS,
    workgroupSize: [WG, 1, 1],
    size: false,
    getUserCode: () => `
      const DH : i32 = ${dh};
      fn main(index : i32) {
        if (index >= uniforms.s * uniforms.c) { return; }
        let ch = index / uniforms.s;
        let pos = index - ch * uniforms.s;
        let row = pos * uniforms.c + ch;
        let biasHead = (ch / uniforms.heads) * uniforms.s;
        ${body}
      }`,
  };
}

/** WGSL: `name` = a copy of row `base` (an element offset) of buffer `buf` in registers. */
const loadRow = (name: string, buf: string, base: string) => `
        var ${name} : array<f32, DH>;
        for (var t = 0; t < DH; t++) { ${name}[t] = ${buf}[${base} + t]; }`;

/** WGSL: `name` = Σ_t reg[t]·buf[base + t] (the same summation order in every program). */
const dotRow = (name: string, reg: string, buf: string, base: string) => `
          var ${name} = 0.0;
          for (var t = 0; t < DH; t++) { ${name} = ${name} + ${reg}[t] * ${buf}[${base} + t]; }`;

/** WGSL: P of query row `r` for score `score`, from the saved statistics (the same expression forward and backward). */
const probability = (r: string, score: string) => `exp((${score} - Stats[${r} * 2]) - Stats[${r} * 2 + 1])`;

/** WGSL bodies (exported for review next to the equations above); `pos` is i in the first four, j in dk and dv. */
export const ATTENTION_WGSL = {
  /** (m, ℓ) of query row i by the online recurrence: on a new maximum, the sum so far is rescaled by exp(m − s). */
  stats: `${loadRow('qi', 'Q', 'row * DH')}
        let biasRow = pos * uniforms.biasQueryStride + biasHead;
        var m = 0.0;
        var l = 0.0;
        for (var j = 0; j < uniforms.s; j++) {${dotRow('dot', 'qi', 'K', '(j * uniforms.c + ch) * DH')}
          let score = dot + Bias[biasRow + j];
          if (j == 0) {
            m = score;
            l = 1.0;
          } else if (score > m) {
            l = l * exp(m - score) + 1.0;
            m = score;
          } else {
            l = l + exp(score - m);
          }
        }
        setOutputAtIndex(row * 2, m);
        setOutputAtIndex(row * 2 + 1, log(l));`,
  /** O[i,c,:] = Σ_j P·v[j,c,:]. */
  context: `${loadRow('qi', 'Q', 'row * DH')}
        let biasRow = pos * uniforms.biasQueryStride + biasHead;
        var acc : array<f32, DH>;
        for (var j = 0; j < uniforms.s; j++) {
          let kb = (j * uniforms.c + ch) * DH;${dotRow('dot', 'qi', 'K', 'kb')}
          let p = ${probability('row', 'dot + Bias[biasRow + j]')};
          for (var t = 0; t < DH; t++) { acc[t] = acc[t] + p * V[kb + t]; }
        }
        for (var t = 0; t < DH; t++) { setOutputAtIndex(row * DH + t, acc[t]); }`,
  /** D[i,c] = dO·O over the row. */
  delta: `
        var acc = 0.0;
        for (var t = 0; t < DH; t++) { acc = acc + Dy[row * DH + t] * O[row * DH + t]; }
        setOutputAtIndex(row, acc);`,
  /** dq[i,c,:] = Σ_j P(dO·v_j − D)·k_j. */
  dq: `${loadRow('qi', 'Q', 'row * DH')}${loadRow('gi', 'Dy', 'row * DH')}
        let biasRow = pos * uniforms.biasQueryStride + biasHead;
        let delta = Delta[row];
        var acc : array<f32, DH>;
        for (var j = 0; j < uniforms.s; j++) {
          let kb = (j * uniforms.c + ch) * DH;${dotRow('dot', 'qi', 'K', 'kb')}${dotRow('dp', 'gi', 'V', 'kb')}
          let ds = ${probability('row', 'dot + Bias[biasRow + j]')} * (dp - delta);
          for (var t = 0; t < DH; t++) { acc[t] = acc[t] + ds * K[kb + t]; }
        }
        for (var t = 0; t < DH; t++) { setOutputAtIndex(row * DH + t, acc[t]); }`,
  /** dk[j,c,:] = Σ_i P(dO_i·v_j − D_i)·q_i. */
  dk: `${loadRow('kj', 'K', 'row * DH')}${loadRow('vj', 'V', 'row * DH')}
        var acc : array<f32, DH>;
        for (var i = 0; i < uniforms.s; i++) {
          let r = i * uniforms.c + ch;${dotRow('dot', 'kj', 'Q', 'r * DH')}${dotRow('dp', 'vj', 'Dy', 'r * DH')}
          let score = dot + Bias[i * uniforms.biasQueryStride + biasHead + pos];
          let ds = ${probability('r', 'score')} * (dp - Delta[r]);
          for (var t = 0; t < DH; t++) { acc[t] = acc[t] + ds * Q[r * DH + t]; }
        }
        for (var t = 0; t < DH; t++) { setOutputAtIndex(row * DH + t, acc[t]); }`,
  /** dv[j,c,:] = Σ_i P·dO_i. */
  dv: `${loadRow('kj', 'K', 'row * DH')}
        var acc : array<f32, DH>;
        for (var i = 0; i < uniforms.s; i++) {
          let r = i * uniforms.c + ch;${dotRow('dot', 'kj', 'Q', 'r * DH')}
          let p = ${probability('r', 'dot + Bias[i * uniforms.biasQueryStride + biasHead + pos]')};
          for (var t = 0; t < DH; t++) { acc[t] = acc[t] + p * Dy[r * DH + t]; }
        }
        for (var t = 0; t < DH; t++) { setOutputAtIndex(row * DH + t, acc[t]); }`,
} as const;

type Info = tf.TensorInfo;

/** Sizes of one attention and its uniforms (S, C, heads, biasQueryStride). */
interface Dims {
  s: number;
  c: number;
  dh: number;
  uniforms: ReturnType<typeof scalarUniforms>;
}

/**
 * Checks the shapes of one attention: q, k (and `same`: v, O, dO, …) `[S, C, dHead]` float32, none empty, and the
 * bias `[S or 1, N, 1, S]` float32 with N dividing C.
 * @throws Error naming the kernel and the offending input.
 */
function dimsOf(kernel: string, q: Info, bias: Info, same: Record<string, Info>): Dims {
  if (q.shape.length !== 3 || q.shape.some((x) => x < 1)) throw new Error(`${kernel}: q must be [S, C, dHead] with no empty axis, got [${q.shape}]`);
  const [s, c, dh] = q.shape as [number, number, number];
  for (const [name, t] of Object.entries({ q, ...same })) {
    if (t.shape.length !== 3 || t.shape.some((x, i) => x !== q.shape[i])) {
      throw new Error(`${kernel}: ${name} has shape [${t.shape}] but q has [${q.shape}]`);
    }
    if (t.dtype !== 'float32') throw new Error(`${kernel}: ${name} must be float32, got ${t.dtype}`);
  }
  const [rows, n, one, keys] = bias.shape as number[];
  if (bias.shape.length !== 4 || (rows !== s && rows !== 1) || one !== 1 || keys !== s || !(n! >= 1) || c % n! !== 0) {
    throw new Error(`${kernel}: bias must be [${s} or 1, N, 1, ${s}] with N dividing C = ${c}, got [${bias.shape}]`);
  }
  if (bias.dtype !== 'float32') throw new Error(`${kernel}: bias must be float32, got ${bias.dtype}`);
  const biasQueryStride = rows === 1 ? 0 : n! * s;
  return { s, c, dh, uniforms: scalarUniforms('int32', s, c, c / n!, biasQueryStride) };
}

/** Checks that `stats` is `[S, C, 2]`. */
function checkStats(kernel: string, stats: Info, { s, c }: Dims): void {
  const [a, b, two] = stats.shape;
  if (stats.shape.length !== 3 || a !== s || b !== c || two !== 2) throw new Error(`${kernel}: stats must be [${s}, ${c}, 2], got [${stats.shape}]`);
}

function statsKernel({ inputs, backend }: { inputs: tf.NamedTensorInfoMap; backend: unknown }) {
  const { q, k, bias } = inputs as Record<'q' | 'k' | 'bias', Info>;
  const dims = dimsOf(ATTENTION_STATS, q, bias, { k });
  const program = rowProgram('stats', [dims.s, dims.c, 2], dims.s * dims.c, dims.dh, ['Q', 'K', 'Bias'], ATTENTION_WGSL.stats);
  return runProgram(backend, program, [q, k, bias], dims.uniforms);
}

function contextKernel({ inputs, backend }: { inputs: tf.NamedTensorInfoMap; backend: unknown }) {
  const { q, k, v, bias, stats } = inputs as Record<'q' | 'k' | 'v' | 'bias' | 'stats', Info>;
  const dims = dimsOf(ATTENTION_CONTEXT, q, bias, { k, v });
  checkStats(ATTENTION_CONTEXT, stats, dims);
  const program = rowProgram('context', [dims.s, dims.c, dims.dh], dims.s * dims.c, dims.dh, ['Q', 'K', 'V', 'Bias', 'Stats'], ATTENTION_WGSL.context);
  return runProgram(backend, program, [q, k, v, bias, stats], dims.uniforms);
}

function gradKernel({ inputs, backend }: { inputs: tf.NamedTensorInfoMap; backend: unknown }) {
  const { q, k, v, bias, stats, out, dy } = inputs as Record<'q' | 'k' | 'v' | 'bias' | 'stats' | 'out' | 'dy', Info>;
  const dims = dimsOf(ATTENTION_GRAD, q, bias, { k, v, out, dy });
  checkStats(ATTENTION_GRAD, stats, dims);
  const { s, c, dh, uniforms } = dims;
  const run = (key: keyof typeof ATTENTION_WGSL, shape: number[], names: string[], xs: Info[]) =>
    runProgram(backend, rowProgram(key, shape, s * c, dh, names, ATTENTION_WGSL[key]), xs, uniforms);
  const delta = run('delta', [s, c], ['Dy', 'O'], [dy, out]);
  const dq = run('dq', [s, c, dh], ['Q', 'K', 'V', 'Bias', 'Stats', 'Dy', 'Delta'], [q, k, v, bias, stats, dy, delta]);
  const dk = run('dk', [s, c, dh], ['Q', 'K', 'V', 'Bias', 'Stats', 'Dy', 'Delta'], [q, k, v, bias, stats, dy, delta]);
  const dv = run('dv', [s, c, dh], ['Q', 'K', 'Bias', 'Stats', 'Dy'], [q, k, bias, stats, dy]);
  (backend as { disposeData(id: unknown): void }).disposeData(delta.dataId);
  return [dq, dk, dv];
}

/** Registers the three attention kernels for the `webgpu` backend. Idempotent. */
export function registerFusedAttentionWebGpu(): void {
  registerWebGpuKernels({ [ATTENTION_STATS]: statsKernel, [ATTENTION_CONTEXT]: contextKernel, [ATTENTION_GRAD]: gradKernel });
}

/** Whether the active backend has the fused attention kernels. */
export function hasFusedAttention(): boolean {
  return activeBackendHasKernel(ATTENTION_STATS);
}

/**
 * Multi-head attention with the fused kernels, differentiable in q, k and v (`tf.customGrad`; the bias is a
 * constant and gets no gradient).
 * @param q `[S, C, dHead]` float32 queries, already scaled by 1/√dHead (C = N·heads channels, c = n·heads + h).
 * @param k `[S, C, dHead]` keys.
 * @param v `[S, C, dHead]` values.
 * @param bias `[S, N, 1, S]`, or `[1, N, 1, S]` shared by all queries: the additive mask of `attentionBias`.
 * @returns the context `[S, C, dHead]`: O[i,c,:] = Σ_j softmax_j(q[i,c,:]·k[j,c,:] + bias[i or 0, n, 0, j]) v[j,c,:].
 * @throws Error when the active backend has no fused attention (see {@link hasFusedAttention}), or when the shapes
 *   or dtypes do not fit (from the kernels).
 */
export function fusedAttention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, bias: tf.Tensor4D): tf.Tensor3D {
  if (!hasFusedAttention()) throw new Error(`${ATTENTION_STATS} is not registered for the "${tf.getBackend()}" backend`);
  const run = tf.customGrad((qIn, kIn, vIn, save) => {
    const [qs, ks, vs] = [qIn as tf.Tensor3D, kIn as tf.Tensor3D, vIn as tf.Tensor3D];
    const stats = tf.engine().runKernel(ATTENTION_STATS, { q: qs, k: ks, bias }) as tf.Tensor;
    const value = tf.engine().runKernel(ATTENTION_CONTEXT, { q: qs, k: ks, v: vs, bias, stats }) as tf.Tensor3D;
    // The bias is saved with the rest (cloned and kept by the tape) so that the backward pass does not depend on
    // the caller keeping it alive.
    (save as (ts: tf.Tensor[]) => void)([qs, ks, vs, bias, stats, value]);
    return {
      value,
      gradFunc: (dy: tf.Tensor3D, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sBias, sStats, sOut] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return tf.engine().runKernel(ATTENTION_GRAD, { q: sq, k: sk, v: sv, bias: sBias, stats: sStats, out: sOut, dy }) as unknown as tf.Tensor[];
      },
    };
  });
  return run(q, k, v);
}
