import * as tf from '@tensorflow/tfjs';
import type { ForwardOutputs, ForwardRequest, SequenceBatch } from '../contracts/policy.js';
import { attentionBias, type LayerKv } from './attention.js';
import { decoderBlock, type DecoderBlockWeights } from './decoder-block.js';
import { initialValues, type ParameterInit } from './init.js';
import { KvCache } from './kv-cache.js';
import { checkTopP, entropyFromLogSoftmax, topPEntropyFromLogSoftmax } from './forward-outputs.js';
import { dense, embedOneHot, layerNorm, positionsFromMask } from './layers.js';
import { extractPatches, patchCount } from './patches.js';

/** Architecture of the reference vision-language model (everything that fixes the parameter shapes). */
export interface VlmArchitecture {
  /** Tokens in the vocabulary (V), special tokens included. */
  vocabSize: number;
  /** Model width d. */
  dModel: number;
  /** Decoder blocks. */
  layers: number;
  /** Attention heads (d must be a multiple). */
  heads: number;
  /** Hidden width of the feed-forward layer. */
  ffnDim: number;
  /** Side of a square image patch, in pixels. */
  patchSize: number;
  /** Text positions (prompt + response tokens) the learned position table covers. */
  maxPositions: number;
  /** `[H, W]` of every image, in pixels. */
  imageShape: [number, number];
}

/** A parameter's checkpoint name (without the per-instance prefix), shape and initialisation. */
export interface ParameterSpec {
  name: string;
  shape: number[];
  init: ParameterInit;
}

/**
 * Checks an architecture.
 * @throws Error naming the offending field.
 */
export function validateArchitecture(a: VlmArchitecture): void {
  for (const key of ['vocabSize', 'dModel', 'layers', 'heads', 'ffnDim', 'patchSize', 'maxPositions'] as const) {
    if (!Number.isInteger(a[key]) || a[key] <= 0) throw new Error(`vlm architecture: ${key} must be a positive integer, got ${a[key]}`);
  }
  if (a.dModel % a.heads !== 0) throw new Error(`vlm architecture: dModel ${a.dModel} is not a multiple of heads ${a.heads}`);
  patchCount(a.imageShape, a.patchSize);
}

/**
 * Every parameter of the model in a fixed order (the order of `VlmModel.variables` and of checkpoints).
 * Linear layers start at N(0, 1/fan_in); residual output projections are further scaled by 1/sqrt(2·layers);
 * embeddings and the output head at N(0, 0.02²); LayerNorm gains at 1, biases at 0.
 */
export function vlmParameterSpecs(a: VlmArchitecture): ParameterSpec[] {
  const { vocabSize: v, dModel: d, ffnDim: f, patchSize: ps } = a;
  const p = patchCount(a.imageShape, ps);
  const normal = (std: number): ParameterInit => ({ kind: 'normal', std });
  const zeros: ParameterInit = { kind: 'zeros' };
  const ones: ParameterInit = { kind: 'ones' };
  const residual = 1 / Math.sqrt(2 * a.layers);
  const specs: ParameterSpec[] = [
    { name: 'patch/w', shape: [ps * ps, d], init: normal(1 / ps) },
    { name: 'patch/b', shape: [d], init: zeros },
    { name: 'patch/pos', shape: [p, d], init: normal(0.02) },
    { name: 'text/embed', shape: [v, d], init: normal(0.02) },
    { name: 'text/pos', shape: [a.maxPositions, d], init: normal(0.02) },
  ];
  for (let i = 0; i < a.layers; i++) {
    const b = `block${i}`;
    specs.push(
      { name: `${b}/ln1/gamma`, shape: [d], init: ones },
      { name: `${b}/ln1/beta`, shape: [d], init: zeros },
      { name: `${b}/attn/wq`, shape: [d, d], init: normal(1 / Math.sqrt(d)) },
      { name: `${b}/attn/bq`, shape: [d], init: zeros },
      { name: `${b}/attn/wk`, shape: [d, d], init: normal(1 / Math.sqrt(d)) },
      { name: `${b}/attn/bk`, shape: [d], init: zeros },
      { name: `${b}/attn/wv`, shape: [d, d], init: normal(1 / Math.sqrt(d)) },
      { name: `${b}/attn/bv`, shape: [d], init: zeros },
      { name: `${b}/attn/wo`, shape: [d, d], init: normal(residual / Math.sqrt(d)) },
      { name: `${b}/attn/bo`, shape: [d], init: zeros },
      { name: `${b}/ln2/gamma`, shape: [d], init: ones },
      { name: `${b}/ln2/beta`, shape: [d], init: zeros },
      { name: `${b}/ffn/w1`, shape: [d, f], init: normal(1 / Math.sqrt(d)) },
      { name: `${b}/ffn/b1`, shape: [f], init: zeros },
      { name: `${b}/ffn/w2`, shape: [f, d], init: normal(residual / Math.sqrt(f)) },
      { name: `${b}/ffn/b2`, shape: [d], init: zeros },
    );
  }
  specs.push(
    { name: 'final/ln/gamma', shape: [d], init: ones },
    { name: 'final/ln/beta', shape: [d], init: zeros },
    { name: 'head/w', shape: [d, v], init: normal(0.02) },
    { name: 'head/b', shape: [v], init: zeros },
  );
  return specs;
}

let instanceCounter = 0;

/** How a {@link VlmModel} gets its first weights. */
export type VlmInit = { seed: number } | { copyOf: VlmModel };

/**
 * A small vision-language transformer on tfjs ops.
 *
 * Sequence layout: `[P image tokens | text tokens]`. Image tokens: non-overlapping patches of the grey image,
 * linearly embedded, plus a learned per-patch position. Text tokens: one-hot · embedding matrix plus a learned
 * position counted over real tokens only (left padding does not shift positions). Pre-LN causal decoder blocks
 * with a key-padding mask, a final LayerNorm and a linear head to the vocabulary.
 */
export class VlmModel {
  readonly architecture: VlmArchitecture;
  /** Every parameter, in {@link vlmParameterSpecs} order. Names: `<instance prefix>/<checkpoint name>`. */
  readonly variables: tf.Variable[];
  /** Checkpoint names, parallel to {@link variables}. */
  readonly parameterNames: string[];
  /** Image tokens per image (P). */
  readonly patches: number;
  private readonly byName = new Map<string, tf.Variable>();
  private disposed = false;

  /**
   * @param init `{ seed }`: deterministic initial weights; `{ copyOf }`: a copy of another model's current weights.
   * @param trainable whether the variables are trainable (tfjs's default variable list for gradients).
   */
  constructor(architecture: VlmArchitecture, init: VlmInit, trainable = true) {
    validateArchitecture(architecture);
    this.architecture = { ...architecture, imageShape: [...architecture.imageShape] };
    this.patches = patchCount(architecture.imageShape, architecture.patchSize);
    const prefix = `vlm${instanceCounter++}`;
    const specs = vlmParameterSpecs(architecture);
    this.parameterNames = specs.map((s) => s.name);
    this.variables = specs.map((s) => {
      const value =
        'seed' in init
          ? tf.tensor(initialValues(s.shape, s.init, init.seed, s.name), s.shape, 'float32')
          : init.copyOf.parameter(s.name).clone();
      const variable = tf.variable(value, trainable, `${prefix}/${s.name}`, 'float32');
      value.dispose();
      this.byName.set(s.name, variable);
      return variable;
    });
  }

  /** The variable of checkpoint name `name`. @throws Error for an unknown name. */
  parameter(name: string): tf.Variable {
    const v = this.byName.get(name);
    if (!v) throw new Error(`vlm: no parameter named "${name}"`);
    return v;
  }

  /** Number of trainable scalars. */
  parameterCount(): number {
    return this.variables.reduce((n, v) => n + v.size, 0);
  }

  private block(i: number): DecoderBlockWeights {
    const g = (n: string) => this.parameter(`block${i}/${n}`);
    return {
      ln1Gamma: g('ln1/gamma') as tf.Tensor1D,
      ln1Beta: g('ln1/beta') as tf.Tensor1D,
      wq: g('attn/wq') as tf.Tensor2D,
      bq: g('attn/bq') as tf.Tensor1D,
      wk: g('attn/wk') as tf.Tensor2D,
      bk: g('attn/bk') as tf.Tensor1D,
      wv: g('attn/wv') as tf.Tensor2D,
      bv: g('attn/bv') as tf.Tensor1D,
      wo: g('attn/wo') as tf.Tensor2D,
      bo: g('attn/bo') as tf.Tensor1D,
      ln2Gamma: g('ln2/gamma') as tf.Tensor1D,
      ln2Beta: g('ln2/beta') as tf.Tensor1D,
      w1: g('ffn/w1') as tf.Tensor2D,
      b1: g('ffn/b1') as tf.Tensor1D,
      w2: g('ffn/w2') as tf.Tensor2D,
      b2: g('ffn/b2') as tf.Tensor1D,
    };
  }

  private checkImages(images: tf.Tensor3D): void {
    const [h, w] = this.architecture.imageShape;
    if (images.shape[1] !== h || images.shape[2] !== w) {
      throw new Error(`vlm: images are ${images.shape[1]}×${images.shape[2]}, the model was built for ${h}×${w}`);
    }
  }

  /**
   * The vision encoder's patch features: each patch's linear embedding plus its learned patch position, i.e. the
   * image tokens as they enter the decoder. Differentiable; call inside `tf.tidy` or a gradient function.
   * @param images `[N, H, W]` float32 in [0, 1].
   * @returns `[N, P, d]`.
   * @throws Error when the images do not match the architecture.
   */
  patchFeatures(images: tf.Tensor3D): tf.Tensor3D {
    this.checkImages(images);
    return tf.tidy(() => {
      const patches = extractPatches(images, this.architecture.patchSize);
      const x = dense(patches, this.parameter('patch/w') as tf.Tensor2D, this.parameter('patch/b') as tf.Tensor1D);
      return tf.add(x, this.parameter('patch/pos')) as tf.Tensor3D;
    });
  }

  /** Image tokens `[P, N, d]` (sequence-major) from images `[N, H, W]`. */
  private embedImages(images: tf.Tensor3D): tf.Tensor3D {
    return this.patchFeatures(images).transpose([1, 0, 2]) as tf.Tensor3D;
  }

  /**
   * Text tokens `[L, N, d]` (sequence-major) from ids `[N, L]` and positions `[N, L]` (int32, −1 = none), all
   * positions below `positionBound` (≤ maxPositions).
   */
  private embedText(ids: tf.Tensor2D, positions: tf.Tensor2D, positionBound: number): tf.Tensor3D {
    const tok = embedOneHot(ids.transpose(), this.parameter('text/embed') as tf.Tensor2D);
    // A one-hot over the rows of the table in use only (much cheaper to differentiate than all maxPositions rows).
    const rows = Math.min(this.architecture.maxPositions, positionBound);
    const table = this.parameter('text/pos') as tf.Tensor2D;
    const used = rows === table.shape[0] ? table : table.slice([0, 0], [rows, -1]);
    const pos = embedOneHot(positions.transpose(), used);
    return tf.add(tok, pos) as tf.Tensor3D;
  }

  /**
   * Runs every block over `x` `[S, N, d]` (after the `past` positions, then S = 1); returns the final residual
   * stream and, with `emitKv`, each layer's keys/values of all positions. `keyMask` `[N, past + S]`.
   */
  private runBlocks(x: tf.Tensor3D, keyMask: tf.Tensor2D, past?: KvCache, emitKv = false): { x: tf.Tensor3D; layers: LayerKv[] } {
    const bias = attentionBias(keyMask, x.shape[0], true);
    const layers: LayerKv[] = [];
    let h = x;
    for (let i = 0; i < this.architecture.layers; i++) {
      const r = decoderBlock(h, this.block(i), this.architecture.heads, bias, past?.layers[i], emitKv);
      h = r.x;
      if (r.kv) layers.push(r.kv);
    }
    return { x: h, layers };
  }

  /** Final LayerNorm: residual stream `[..., d]` → final hidden states `[..., d]`. */
  private finalNorm(h: tf.Tensor): tf.Tensor {
    return layerNorm(h, this.parameter('final/ln/gamma') as tf.Tensor1D, this.parameter('final/ln/beta') as tf.Tensor1D);
  }

  /** Output head on final hidden states: `[..., d]` → logits `[..., V]`. */
  private project(n: tf.Tensor): tf.Tensor {
    return dense(n, this.parameter('head/w') as tf.Tensor2D, this.parameter('head/b') as tf.Tensor1D);
  }

  /** Final LayerNorm and output head: `[..., d]` → logits `[..., V]`. */
  private head(h: tf.Tensor): tf.Tensor {
    return this.project(this.finalNorm(h));
  }

  /**
   * Runs the decoder over `[image tokens | prompt | response without its last token]` (or, without the image,
   * `[prompt | response without its last token]`: text positions are counted over real text tokens either way, so
   * they are those of the image-less input). Not tidied: call inside `tf.tidy`.
   * @returns the final residual stream `h` `[S, N, d]`, `first` = the index in `h` of the input position of response
   *   token 0 (the last prompt position), and, with the image, its patch features `[N, P, d]`.
   * @throws Error when the images do not match the architecture or prompt + response exceed `maxPositions`.
   */
  private decode(batch: SequenceBatch, withImage: boolean): { h: tf.Tensor3D; first: number; features?: tf.Tensor3D } {
    const [n, lp] = batch.promptTokens.shape;
    const t = batch.responseTokens.shape[1];
    if (lp + t - 1 > this.architecture.maxPositions) {
      throw new Error(`vlm: prompt (${lp}) + response (${t}) tokens exceed maxPositions ${this.architecture.maxPositions}`);
    }
    let ids: tf.Tensor2D = batch.promptTokens.toInt();
    let mask: tf.Tensor2D = batch.promptMask.toFloat();
    if (t > 1) {
      ids = tf.concat([ids, batch.responseTokens.slice([0, 0], [n, t - 1]).toInt()], 1);
      mask = tf.concat([mask, tf.ones([n, t - 1])], 1);
    }
    const text = this.embedText(ids, positionsFromMask(mask), lp + t - 1);
    if (!withImage) return { h: this.runBlocks(text, mask).x, first: lp - 1 };
    const features = this.patchFeatures(batch.images);
    const p = this.patches;
    const x = tf.concat([features.transpose([1, 0, 2]) as tf.Tensor3D, text], 0);
    const keyMask = tf.concat([tf.ones([n, p]), mask], 1) as tf.Tensor2D;
    return { h: this.runBlocks(x, keyMask).x, first: p + lp - 1, features };
  }

  /**
   * Differentiable logits of every response position: entry t predicts response token t (from the last prompt token
   * for t = 0). Call inside a gradient function or `tf.tidy`; intermediates are tidied here.
   * @returns `[N, T, V]` unnormalised logits.
   * @throws Error when the images do not match the architecture or prompt + response exceed `maxPositions`.
   */
  responseLogits(batch: SequenceBatch): tf.Tensor3D {
    return tf.tidy(() => {
      const [n, t] = batch.responseTokens.shape;
      const { h, first } = this.decode(batch, true);
      return this.head(h.slice([first, 0, 0], [t, n, this.architecture.dModel])).transpose([1, 0, 2]) as tf.Tensor3D;
    });
  }

  /**
   * Differentiable `log_softmax(logits / temperature)` at the response tokens.
   * @returns `[N, T]` nats (values on response padding are meaningless: mask them).
   */
  responseLogprobs(batch: SequenceBatch, temperature = 1): tf.Tensor2D {
    return this.responseForward(batch, { temperature }).logprobs;
  }

  /**
   * One forward pass over `[image tokens | prompt | response]` returning the response logprobs and whatever else
   * `outputs` asks for (each extra only when asked; the image-less logprobs take a second, image-less pass). All
   * at `temperature` where a distribution is involved. Call inside a gradient function or `tf.tidy`; intermediates
   * are tidied here, the returned tensors belong to the caller. Nothing is read synchronously.
   *
   * - `logprobs` `[N, T]`: `log_softmax(logits / temperature)` at each response token (differentiable).
   * - `entropy` `[N, T]`: entropy of the full next-token distribution at each response position (differentiable).
   * - `topPEntropy` `[N, T]`: entropy of the top-p truncated, renormalised distribution (see
   *   `topPEntropyFromLogSoftmax`).
   * - `hiddenStates` `[N, T, d]`: final hidden states (after the final LayerNorm) at the input position of each
   *   response token, i.e. the states whose logits `h · head/w + head/b` score that token.
   * - `imageHiddenStates` `[N, P, d]`: final hidden states (after the final LayerNorm) at the P image tokens.
   * - `imagelessLogprobs` `[N, T]`: the responses scored with the image removed (`[prompt | response]`, same text
   *   positions). Each row needs at least one real prompt token (e.g. BOS): otherwise the first response token has
   *   no context without the image and its value is meaningless.
   * - `patchFeatures` `[N, P, d]`: the vision encoder's patch features ({@link patchFeatures}).
   *
   * Values on response padding are meaningless: mask them.
   * @throws Error when the temperature is not positive, `topPEntropy` is outside (0, 1], the images do not match
   *   the architecture, or prompt + response exceed `maxPositions`.
   */
  responseForward(batch: SequenceBatch, options: { temperature?: number; outputs?: ForwardRequest } = {}): ForwardOutputs {
    const temperature = options.temperature ?? 1;
    const want = options.outputs ?? {};
    if (!(temperature > 0)) throw new Error(`vlm: temperature must be > 0, got ${temperature}`);
    if (want.topPEntropy !== undefined) checkTopP(want.topPEntropy);
    return tf.tidy(() => {
      const [n, t] = batch.responseTokens.shape;
      const d = this.architecture.dModel;
      const { h, first, features } = this.decode(batch, true);
      const hidden = this.finalNorm(h.slice([first, 0, 0], [t, n, d])).transpose([1, 0, 2]) as tf.Tensor3D; // [N, T, d]
      const logp = this.logSoftmaxAt(this.project(hidden), temperature);
      const out: ForwardOutputs = { logprobs: this.pick(logp, batch.responseTokens) };
      if (want.entropy) out.entropy = entropyFromLogSoftmax(logp) as tf.Tensor2D;
      if (want.topPEntropy !== undefined) out.topPEntropy = topPEntropyFromLogSoftmax(logp, want.topPEntropy) as tf.Tensor2D;
      if (want.hiddenStates) out.hiddenStates = hidden;
      if (want.imageHiddenStates) {
        out.imageHiddenStates = this.finalNorm(h.slice([0, 0, 0], [this.patches, n, d])).transpose([1, 0, 2]) as tf.Tensor3D;
      }
      if (want.patchFeatures) out.patchFeatures = features!;
      if (want.imagelessLogprobs) {
        const blind = this.decode(batch, false);
        const logits = this.head(blind.h.slice([blind.first, 0, 0], [t, n, d])).transpose([1, 0, 2]);
        out.imagelessLogprobs = this.pick(this.logSoftmaxAt(logits, temperature), batch.responseTokens);
      }
      return out as unknown as tf.TensorContainerObject;
    }) as unknown as ForwardOutputs;
  }

  /** `log_softmax(logits / temperature)` over the last axis. */
  private logSoftmaxAt(logits: tf.Tensor, temperature: number): tf.Tensor {
    return tf.logSoftmax(temperature === 1 ? logits : tf.div(logits, temperature));
  }

  /** Log-probabilities `[N, T, V]` gathered at token ids `[N, T]` with a one-hot product (differentiable). */
  private pick(logp: tf.Tensor, ids: tf.Tensor2D): tf.Tensor2D {
    return tf.sum(tf.mul(logp, tf.oneHot(ids.toInt(), logp.shape[logp.rank - 1]!)), -1) as tf.Tensor2D;
  }

  /**
   * Encodes images and prompts for decoding (no gradient needed; nothing is kept but the outputs).
   * @param images `[N, H, W]`.
   * @param promptTokens `[N, Lp]` int32, left-padded.
   * @param promptMask `[N, Lp]` float32, 1 on real tokens.
   * @returns logits `[N, V]` for the first response token and the cache of all `P + Lp` positions (caller disposes).
   */
  prefill(images: tf.Tensor3D, promptTokens: tf.Tensor2D, promptMask: tf.Tensor2D): { logits: tf.Tensor2D; cache: KvCache } {
    const [n, lp] = promptTokens.shape;
    if (lp > this.architecture.maxPositions) {
      throw new Error(`vlm: prompt (${lp} tokens) exceeds maxPositions ${this.architecture.maxPositions}`);
    }
    const out = tf.tidy(() => {
      const p = this.patches;
      const mask = promptMask.toFloat();
      const x = tf.concat([this.embedImages(images), this.embedText(promptTokens.toInt(), positionsFromMask(mask), lp)], 0);
      const keyMask = tf.concat([tf.ones([n, p]), mask], 1) as tf.Tensor2D;
      const { x: h, layers } = this.runBlocks(x, keyMask, undefined, true);
      const last = h.slice([p + lp - 1, 0, 0], [1, n, this.architecture.dModel]).reshape([n, this.architecture.dModel]);
      return { logits: this.head(last) as tf.Tensor2D, layers, keyMask };
    });
    return { logits: out.logits, cache: new KvCache(out.layers, out.keyMask) };
  }

  /**
   * One decoding step: appends one token per row at the given text positions.
   * @param tokens `N` token ids (one per cache row).
   * @param positions `N` text positions (the count of real text tokens before it in its row).
   * @returns logits `[N, V]` for the next token and a new cache (the old one is left to the caller to dispose).
   */
  step(tokens: readonly number[], positions: readonly number[], cache: KvCache): { logits: tf.Tensor2D; cache: KvCache } {
    const n = cache.rows;
    if (tokens.length !== n || positions.length !== n) throw new Error(`vlm.step: expected ${n} tokens and positions`);
    const maxPos = Math.max(...positions);
    if (maxPos >= this.architecture.maxPositions) {
      throw new Error(`vlm: text position ${maxPos} exceeds maxPositions ${this.architecture.maxPositions}`);
    }
    const out = tf.tidy(() => {
      const ids = tf.tensor2d(Array.from(tokens), [n, 1], 'int32');
      const pos = tf.tensor2d(Array.from(positions), [n, 1], 'int32');
      const x = this.embedText(ids, pos, maxPos + 1);
      const keyMask = tf.concat([cache.keyMask, tf.ones([n, 1])], 1) as tf.Tensor2D;
      const { x: h, layers } = this.runBlocks(x, keyMask, cache, true);
      const logits = this.head(h.reshape([n, this.architecture.dModel])) as tf.Tensor2D;
      return { logits, layers, keyMask };
    });
    return { logits: out.logits, cache: new KvCache(out.layers, out.keyMask) };
  }

  /** Current weights in {@link vlmParameterSpecs} order (reads with `await data()`). */
  async exportWeights(): Promise<{ name: string; shape: number[]; data: Float32Array }[]> {
    const out = [];
    for (let i = 0; i < this.variables.length; i++) {
      const v = this.variables[i]!;
      out.push({ name: this.parameterNames[i]!, shape: [...v.shape], data: (await v.data()) as Float32Array });
    }
    return out;
  }

  /**
   * Assigns weights by checkpoint name. Every parameter must be present with its exact shape.
   * @param source label used in error messages (e.g. the checkpoint path).
   * @throws Error naming the tensor and both shapes on a shape disagreement, or a missing/unexpected tensor.
   */
  importWeights(tensors: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>, source: string): void {
    for (let i = 0; i < this.variables.length; i++) {
      const name = this.parameterNames[i]!;
      const v = this.variables[i]!;
      const t = tensors.get(name);
      if (!t) throw new Error(`${source}: tensor "${name}" (shape [${v.shape.join(', ')}]) is missing`);
      if (t.shape.length !== v.shape.length || t.shape.some((s, k) => s !== v.shape[k])) {
        throw new Error(
          `${source}: tensor "${name}" has shape [${t.shape.join(', ')}] in the checkpoint but [${v.shape.join(', ')}] in this model`,
        );
      }
    }
    for (const name of tensors.keys()) {
      if (!this.byName.has(name)) throw new Error(`${source}: unexpected tensor "${name}" (not a parameter of this model)`);
    }
    for (let i = 0; i < this.variables.length; i++) {
      const v = this.variables[i]!;
      const t = tensors.get(this.parameterNames[i]!)!;
      tf.tidy(() => v.assign(tf.tensor(t.data, v.shape, 'float32')));
    }
  }

  /**
   * Overwrites this model's weights with `other`'s current weights (e.g. to refresh a frozen old/reference copy
   * without allocating new variables).
   * @throws Error when the architectures differ.
   */
  copyFrom(other: VlmModel): void {
    if (JSON.stringify(other.architecture) !== JSON.stringify(this.architecture)) {
      throw new Error('vlm.copyFrom: the architectures differ');
    }
    this.variables.forEach((v, i) => v.assign(other.variables[i]!));
  }

  /** An independent copy of the current weights (new variables, `trainable` as given). */
  clone(trainable = true): VlmModel {
    return new VlmModel(this.architecture, { copyOf: this }, trainable);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const v of this.variables) v.dispose();
  }
}
