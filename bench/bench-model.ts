import * as tf from '@tensorflow/tfjs';
import { attentionBias, embedOneHot, initialValues, layerNorm, multiHeadAttention, tokenLogprobs, type AttentionWeights } from '@mmrl/core';

/**
 * The transformer of `shared/bench/torch-reference.py` (mmrl's peer reference for the train-step benchmark), on
 * mmrl's building blocks (`multiHeadAttention`, `attentionBias`, `embedOneHot`, `tokenLogprobs`).
 *
 * Architecture, exactly as the PyTorch script: token embedding `[V, D]` plus a learned position table `[S, D]` (one
 * row per position, no padding); L pre-LN blocks `x + Wo·attn(LN(x)·Wq, ·Wk, ·Wv)`, `x + W2·relu(W1·LN(x))`, where
 * LayerNorm has a gain and NO bias (eps 1e-5) and no linear layer has a bias; causal mask; NO final LayerNorm; an
 * untied output matrix `[D, V]`; softmax cross-entropy averaged over all B·S positions; Adam lr 1e-3. Every matrix
 * starts at N(0, 0.02²), every gain at 1 (torch's values differ, the distribution does not).
 * Parameters: `V·D + S·D + D·V + L·(4D² + 2·D·F + 2D)`, see {@link torchReferenceParameterCount}.
 *
 * mmrl's `layerNorm` (fused on webgpu) takes a bias: this model passes the zero constant, as it does for the
 * projection biases of mmrl's `multiHeadAttention`: constants (not variables, so they
 * are neither parameters nor updated; their cost is one broadcast add fused into each projection's matMul).
 * The residual stream is sequence-major `[S, B, D]`, mmrl's layout.
 */
export interface BenchModelConfig {
  /** Vocabulary V. */
  vocab: number;
  /** Width D. */
  dModel: number;
  /** Blocks L. */
  layers: number;
  /** Heads H (the reference uses D / 32). */
  heads: number;
  /** FFN width F (the reference uses 4·D). */
  ffnDim: number;
  /** Sequence length S (also the rows of the position table). */
  seq: number;
}

/** The shapes of GPU.md's baseline and of `torch-reference.py 16 cuda 32 128 128 4`: batch 32 × 128 tokens. */
export const TORCH_REFERENCE: BenchModelConfig & { batch: number } = {
  vocab: 128,
  dModel: 128,
  layers: 4,
  heads: 4,
  ffnDim: 512,
  seq: 128,
  batch: 32,
};

/**
 * The larger model of issue 8 and GPU.md's second baseline (about 25M parameters): D=512, 8 layers, 16 heads (D/32),
 * FFN 2048, batch 64 × 256 tokens; `torch-reference.py THREADS cuda 64 256 512 8`.
 */
export const TRANSFORMER_25M: BenchModelConfig & { batch: number } = {
  vocab: 128,
  dModel: 512,
  layers: 8,
  heads: 16,
  ffnDim: 2048,
  seq: 256,
  batch: 64,
};

/** Parameter count of the PyTorch reference: `V·D (emb) + S·D (pos) + D·V (out) + L·(4D² + 2DF + 2D)`. */
export function torchReferenceParameterCount(c: BenchModelConfig): number {
  const { vocab: v, dModel: d, layers: l, ffnDim: f, seq: s } = c;
  return v * d + s * d + d * v + l * (4 * d * d + 2 * d * f + 2 * d);
}

interface Block {
  attn: AttentionWeights;
  g1: tf.Variable;
  g2: tf.Variable;
  w1: tf.Variable;
  w2: tf.Variable;
}

/** The benchmark transformer (see {@link BenchModelConfig}). Owns its variables and constants: call `dispose`. */
export class BenchTransformer {
  readonly config: BenchModelConfig;
  /** Every parameter (trainable). */
  readonly variables: tf.Variable[] = [];
  private readonly emb: tf.Variable;
  private readonly pos: tf.Variable;
  private readonly out: tf.Variable;
  private readonly blocks: Block[] = [];
  private readonly zeroBias: tf.Tensor1D;
  /** Causal attention bias `[S, B, 1, S]` per batch size B (a constant, built once). */
  private readonly biases = new Map<number, tf.Tensor4D>();

  constructor(config: BenchModelConfig, seed = 0) {
    const { vocab: v, dModel: d, layers, heads, ffnDim: f, seq: s } = config;
    if (d % heads !== 0) throw new Error(`bench model: dModel ${d} is not a multiple of heads ${heads}`);
    this.config = { ...config };
    const param = (name: string, shape: number[], init: 'normal' | 'ones'): tf.Variable => {
      const values = initialValues(shape, init === 'ones' ? { kind: 'ones' } : { kind: 'normal', std: 0.02 }, seed, name);
      const value = tf.tensor(values, shape, 'float32');
      const variable = tf.variable(value, true, undefined, 'float32');
      value.dispose();
      this.variables.push(variable);
      return variable;
    };
    this.emb = param('emb', [v, d], 'normal');
    this.pos = param('pos', [s, d], 'normal');
    this.out = param('out', [d, v], 'normal');
    this.zeroBias = tf.zeros([d]);
    for (let i = 0; i < layers; i++) {
      const w = (n: string) => param(`block${i}/${n}`, [d, d], 'normal') as tf.Variable<tf.Rank.R2>;
      const attn: AttentionWeights = {
        wq: w('wq'),
        bq: this.zeroBias,
        wk: w('wk'),
        bk: this.zeroBias,
        wv: w('wv'),
        bv: this.zeroBias,
        wo: w('wo'),
        bo: this.zeroBias,
      };
      this.blocks.push({
        attn,
        w1: param(`block${i}/w1`, [d, f], 'normal'),
        w2: param(`block${i}/w2`, [f, d], 'normal'),
        g1: param(`block${i}/g1`, [d], 'ones'),
        g2: param(`block${i}/g2`, [d], 'ones'),
      });
    }
  }

  /** Number of trainable scalars. */
  parameterCount(): number {
    return this.variables.reduce((n, v) => n + v.size, 0);
  }

  private causalBias(batch: number): tf.Tensor4D {
    let bias = this.biases.get(batch);
    if (!bias) {
      // Kept: first built inside a step's tidy/gradient scope, reused by every later step.
      bias = tf.keep(tf.tidy(() => attentionBias(tf.ones([batch, this.config.seq]) as tf.Tensor2D, this.config.seq, true)));
      this.biases.set(batch, bias);
    }
    return bias;
  }

  /**
   * Logits of every position, sequence-major.
   * @param ids `[B, S]` int32.
   * @returns `[S·B, V]` (row `t·B + b` = position t of sequence b).
   */
  logits(ids: tf.Tensor2D): tf.Tensor2D {
    const [b, s] = ids.shape;
    if (s !== this.config.seq) throw new Error(`bench model: sequences of ${s} tokens, the model was built for ${this.config.seq}`);
    const d = this.config.dModel;
    const bias = this.causalBias(b);
    return tf.tidy(() => {
      let x = tf.add(embedOneHot(ids.transpose(), this.emb as tf.Tensor2D), this.pos.reshape([s, 1, d])) as tf.Tensor3D;
      for (const blk of this.blocks) {
        const a = multiHeadAttention(layerNorm(x, blk.g1 as tf.Tensor1D, this.zeroBias as tf.Tensor1D) as tf.Tensor3D, blk.attn, this.config.heads, bias);
        const h = tf.add(x, a.out).reshape([s * b, d]);
        const f = tf.matMul(tf.relu(tf.matMul(layerNorm(h, blk.g2 as tf.Tensor1D, this.zeroBias as tf.Tensor1D) as tf.Tensor2D, blk.w1 as tf.Tensor2D)), blk.w2 as tf.Tensor2D);
        x = tf.add(h, f).reshape([s, b, d]) as tf.Tensor3D;
      }
      return tf.matMul(x.reshape([s * b, d]) as tf.Tensor2D, this.out as tf.Tensor2D);
    });
  }

  /**
   * Mean next-token cross-entropy over all B·S positions (torch's `cross_entropy(forward(ids), tgt)`).
   * @param ids `[B, S]` int32 inputs; `targets` `[B, S]` int32.
   */
  loss(ids: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
    return tf.tidy(() => tf.neg(tf.mean(tokenLogprobs(this.logits(ids), targets.transpose().reshape([-1])))) as tf.Scalar);
  }

  dispose(): void {
    tf.dispose(this.variables);
    this.zeroBias.dispose();
    for (const b of this.biases.values()) b.dispose();
    this.biases.clear();
  }
}

/**
 * A random batch as in torch-reference.py: uniform input ids and (independent) uniform targets, `[B, S]` int32 each.
 */
export function randomTokenBatch(config: BenchModelConfig, batch: number, seed = 0): { ids: tf.Tensor2D; targets: tf.Tensor2D } {
  const draw = (k: number) =>
    tf.tidy(() => tf.randomUniform([batch, config.seq], 0, config.vocab, 'float32', seed + k).floor().toInt() as tf.Tensor2D);
  return { ids: draw(0), targets: draw(1) };
}

/** Forward pass only (the loss); syncs with an async read. */
export async function benchForward(model: BenchTransformer, ids: tf.Tensor2D, targets: tf.Tensor2D): Promise<number> {
  const loss = tf.tidy(() => model.loss(ids, targets));
  const value = (await loss.data())[0]!;
  loss.dispose();
  return value;
}

/**
 * Forward and backward without the optimizer: the gradients are computed and dropped. The loss is read after the
 * backward pass was submitted, and a GPU queue runs in order, so the read also waits for the gradients.
 */
export async function benchForwardBackward(model: BenchTransformer, ids: tf.Tensor2D, targets: tf.Tensor2D): Promise<number> {
  const { value, grads } = tf.variableGrads(() => model.loss(ids, targets), model.variables);
  const loss = (await value.data())[0]!;
  tf.dispose([value, ...Object.values(grads)]);
  return loss;
}

/**
 * One train step: forward, backward and Adam over all variables; syncs with an async read of the loss.
 * @returns the loss before the update.
 */
export async function benchTrainStep(model: BenchTransformer, optimizer: tf.Optimizer, ids: tf.Tensor2D, targets: tf.Tensor2D): Promise<number> {
  const loss = optimizer.minimize(() => model.loss(ids, targets), true, model.variables) as tf.Scalar;
  const value = (await loss.data())[0]!;
  loss.dispose();
  return value;
}
