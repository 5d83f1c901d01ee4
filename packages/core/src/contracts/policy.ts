import type * as tf from '@tensorflow/tfjs';
import type { Tokenizer } from '../model/tokenizer.js';

/**
 * A collated batch of N sequences `[image tokens | prompt (left-padded to Lp) | response (right-padded to T)]`.
 * Built by `collateSequences` (rollout/batch.ts).
 */
export interface SequenceBatch {
  /** Images `[N, H, W]`, float32 in [0, 1]. */
  images: tf.Tensor3D;
  /** Prompt token ids `[N, Lp]` int32, left-padded with the pad id. */
  promptTokens: tf.Tensor2D;
  /** `[N, Lp]` float32, 1 on real prompt tokens, 0 on left padding. */
  promptMask: tf.Tensor2D;
  /** Response token ids `[N, T]` int32, right-padded with the pad id. */
  responseTokens: tf.Tensor2D;
  /** `[N, T]` float32, 1 on real response tokens. */
  responseMask: tf.Tensor2D;
}

/** Extra outputs of a forward pass; each is computed only when asked (a strategy's `requires`). */
export interface ForwardRequest {
  /** Entropy of the full next-token distribution at each response position `[N, T]` (nats). */
  entropy?: boolean;
  /**
   * Entropy of the top-p truncated, renormalised next-token distribution `[N, T]` (nats), with this nucleus mass
   * (ToR: 0.95, METHODS.md §3.3, T-2).
   */
  topPEntropy?: number;
  /** Final-layer hidden states (after the final norm) at the input position of each response token `[N, T, d]`. */
  hiddenStates?: boolean;
  /** Final-layer hidden states (after the final norm) of the image tokens `[N, P, d]`. */
  imageHiddenStates?: boolean;
  /** Logprobs of the same responses scored with the image removed from the input `[N, T]` (ToR, METHODS.md T-3). */
  imagelessLogprobs?: boolean;
  /** The vision encoder's patch features of each image `[N, P, d]` (Durian, METHODS.md §2.6). */
  patchFeatures?: boolean;
}

export interface ForwardOptions {
  /** Logits are divided by this before the softmax (score at the sampling temperature, METHODS.md G-8). Default 1. */
  temperature?: number;
  /** Extra outputs to compute (default: logprobs only). */
  outputs?: ForwardRequest;
}

export interface ForwardOutputs {
  /** log π(o_t | image, prompt, o_<t) of each response token `[N, T]` (nats; 0 is not guaranteed on padding). */
  logprobs: tf.Tensor2D;
  /** `[N, T]`, when `outputs.entropy`. */
  entropy?: tf.Tensor2D;
  /** `[N, T]`, when `outputs.topPEntropy`. */
  topPEntropy?: tf.Tensor2D;
  /** `[N, T, d]`, when `outputs.hiddenStates`. */
  hiddenStates?: tf.Tensor3D;
  /** `[N, P, d]`, when `outputs.imageHiddenStates`. */
  imageHiddenStates?: tf.Tensor3D;
  /** `[N, T]`, when `outputs.imagelessLogprobs`. */
  imagelessLogprobs?: tf.Tensor2D;
  /** `[N, P, d]`, when `outputs.patchFeatures`. */
  patchFeatures?: tf.Tensor3D;
}

export interface GenerateRequest {
  /** One grey image per prompt, `[H, W]` row-major in [0, 1]. */
  images: readonly Float32Array[];
  /** Prompt token ids per prompt (without image tokens). */
  promptTokens: readonly number[][];
  /** Responses sampled per prompt (G). Rows of the result are prompt-major: prompt p's samples at p·G … p·G+G−1. */
  samplesPerPrompt: number;
  /** Length limit of a response, EOS included. */
  maxNewTokens: number;
  /** Sampling temperature (> 0). Ignored when `greedy`. */
  temperature: number;
  /** Nucleus sampling mass in (0, 1]; 1 disables it. */
  topP: number;
  /** Take the arg-max token at every step. */
  greedy: boolean;
  /** Seed of the sampler: the same request and seed give the same responses. */
  seed: number;
}

export interface GenerateResult {
  /** Response token ids per row, the final EOS included when the row stopped. */
  tokens: number[][];
  /** Log-probability of each sampled token at the sampling temperature (0 for greedy decoding is not implied). */
  logprobs: Float32Array[];
  /** True when the row ended with EOS. */
  finished: boolean[];
}

/** `policy` kind: the model. */
export interface Policy {
  readonly tokenizer: Tokenizer;
  /** Trainable variables (the optimizer updates these). */
  readonly trainableVariables: tf.Variable[];
  /** Number of trainable scalars. */
  parameterCount(): number;
  /** Differentiable forward pass; call inside `tf.tidy` / a gradient function. */
  forward(batch: SequenceBatch, options?: ForwardOptions): ForwardOutputs;
  /** Sample or decode responses. Never reads tensors synchronously. */
  generate(request: GenerateRequest): Promise<GenerateResult>;
  /** Writes the weights and architecture to `dir` atomically (temporary directory + rename). */
  save(dir: string): Promise<void>;
  /**
   * Loads weights from `dir`.
   * @throws Error naming the path when it is missing, or both shapes when the architecture disagrees.
   */
  load(dir: string): Promise<void>;
  /** A frozen copy (e.g. the reference policy). */
  clone(): Policy;
  dispose(): void;
}
