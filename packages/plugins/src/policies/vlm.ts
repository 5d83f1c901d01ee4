import * as tf from '@tensorflow/tfjs';
import { Type, type Static } from '@sinclair/typebox';
import { resolve } from 'node:path';
import {
  TASK,
  Tokenizer,
  VlmModel,
  defineStrategy,
  generateWithCache,
  loadVlmCheckpoint,
  saveVlmCheckpoint,
  type ForwardOptions,
  type ForwardOutputs,
  type GenerateRequest,
  type GenerateResult,
  type Policy,
  type SequenceBatch,
  type VlmArchitecture,
} from '@mmrl/core';

/** Named architectures; explicit size options override the preset's values. */
export const VLM_PRESETS = {
  /** The demo model: ~0.13M parameters, trains in seconds on 2 CPU cores. */
  small: { dModel: 64, layers: 2, heads: 4, ffnDim: 256 },
  /** The student of the shipped checkpoints: ~0.85M parameters. */
  student: { dModel: 128, layers: 4, heads: 4, ffnDim: 512 },
  /** The expert of the shipped checkpoints (TGRL's stronger policy): ~2.7M parameters. */
  expert: { dModel: 192, layers: 6, heads: 6, ffnDim: 768 },
} as const;
export type VlmPreset = keyof typeof VLM_PRESETS;

export const VlmPolicyOptions = Type.Object(
  {
    preset: Type.Union(
      (Object.keys(VLM_PRESETS) as VlmPreset[]).map((k) => Type.Literal(k)),
      {
        default: 'small',
        description: 'Named size: small (d 64, 2 layers), student (d 128, 4 layers, ~0.85M), expert (d 192, 6 layers).',
      },
    ),
    dModel: Type.Optional(Type.Integer({ minimum: 1, description: 'Model width d (a multiple of heads); overrides the preset.' })),
    layers: Type.Optional(Type.Integer({ minimum: 1, description: 'Decoder blocks; overrides the preset.' })),
    heads: Type.Optional(Type.Integer({ minimum: 1, description: 'Attention heads; overrides the preset.' })),
    ffnDim: Type.Optional(Type.Integer({ minimum: 1, description: 'Hidden width of the feed-forward layers; overrides the preset.' })),
    patchSize: Type.Integer({
      minimum: 1,
      default: 14,
      description: 'Side of the square image patches in pixels; must divide the task image height and width.',
    }),
    maxPositions: Type.Integer({
      minimum: 2,
      default: 128,
      description: 'Text positions (prompt + response tokens) covered by the learned position table.',
    }),
    checkpoint: Type.Optional(
      Type.String({
        description:
          'Checkpoint directory to load the weights from at creation (relative to the config file); its architecture and vocabulary must match.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type VlmPolicyOptions = Static<typeof VlmPolicyOptions>;

/**
 * The reference policy: a small vision-language transformer (see `VlmModel` in @mmrl/core) with a KV-cached batched
 * sampler. Weights start from a seed; `save`/`load` use the `mmrl-vlm` checkpoint format.
 */
export class VlmPolicy implements Policy {
  readonly tokenizer: Tokenizer;
  readonly model: VlmModel;

  /**
   * @param init `{ seed }` for fresh weights, or `{ model }` to adopt an existing model (used by {@link clone}).
   */
  constructor(architecture: VlmArchitecture, tokenizer: Tokenizer, init: { seed: number } | { model: VlmModel }) {
    if (architecture.vocabSize !== tokenizer.size) {
      throw new Error(`vlm policy: vocabSize ${architecture.vocabSize} differs from the tokenizer's ${tokenizer.size}`);
    }
    this.tokenizer = tokenizer;
    this.model = 'model' in init ? init.model : new VlmModel(architecture, { seed: init.seed });
  }

  /** Every parameter as a tf.Variable (stable order; names `vlm<k>/<parameter>`, unique per instance). */
  get trainableVariables(): tf.Variable[] {
    return this.model.variables;
  }

  /** Number of scalars in {@link trainableVariables}. */
  parameterCount(): number {
    return this.model.parameterCount();
  }

  /**
   * Differentiable forward pass over `[image tokens | prompt | response]` (see `VlmModel.responseForward`).
   * @returns `logprobs` `[N, T]`: log_softmax(logits / temperature) at each response token (nats), plus what
   *   `options.outputs` asks for: `entropy` / `topPEntropy` `[N, T]` at the temperature, `hiddenStates` `[N, T, d]`
   *   (final norm, at the input position of each response token), `imageHiddenStates` `[N, P, d]`,
   *   `imagelessLogprobs` `[N, T]` (a second pass with the image removed), `patchFeatures` `[N, P, d]`. Entries on
   *   response padding are not meaningful.
   */
  forward(batch: SequenceBatch, options: ForwardOptions = {}): ForwardOutputs {
    return this.model.responseForward(batch, options);
  }

  /**
   * Batched KV-cached sampling; rows are prompt-major (`p·G + g`). `logprobs` are those of the sampled tokens at the
   * sampling temperature over the full vocabulary (what {@link forward} scores at that temperature); greedy decoding
   * reports them at temperature 1.
   */
  generate(request: GenerateRequest): Promise<GenerateResult> {
    return generateWithCache(this.model, request, this.tokenizer.eosId, this.tokenizer.padId);
  }

  /** Writes `manifest.json` + `weights.bin` to `dir` atomically. */
  save(dir: string): Promise<void> {
    return saveVlmCheckpoint(dir, this.model, this.tokenizer.vocab);
  }

  /** @throws Error naming the path when it is missing, or the tensor and both shapes when the architecture differs. */
  load(dir: string): Promise<void> {
    return loadVlmCheckpoint(dir, this.model, this.tokenizer.vocab);
  }

  /** An independent copy of the current weights, with non-trainable variables (a frozen reference/old policy). */
  clone(): VlmPolicy {
    return new VlmPolicy(this.model.architecture, this.tokenizer, { model: this.model.clone(false) });
  }

  dispose(): void {
    this.model.dispose();
  }
}

export const vlmPolicy = defineStrategy({
  kind: 'policy',
  name: 'vlm',
  optionsSchema: VlmPolicyOptions,
  docs: {
    summary:
      'Small vision-language transformer: patch-embedded grey image tokens prefixed to the text, pre-LN causal decoder, KV-cached batched sampling.',
  },
  provides: ['logprobs', 'entropy', 'hiddenStates', 'imageHiddenStates', 'imagelessLogprobs', 'patchFeatures'],
  async create(options, ctx): Promise<VlmPolicy> {
    const task = ctx.container.resolve(TASK);
    const tokenizer = new Tokenizer(task.vocabulary());
    const preset = VLM_PRESETS[options.preset];
    const architecture: VlmArchitecture = {
      vocabSize: tokenizer.size,
      dModel: options.dModel ?? preset.dModel,
      layers: options.layers ?? preset.layers,
      heads: options.heads ?? preset.heads,
      ffnDim: options.ffnDim ?? preset.ffnDim,
      patchSize: options.patchSize,
      maxPositions: options.maxPositions,
      imageShape: [task.imageShape[0], task.imageShape[1]],
    };
    const policy = new VlmPolicy(architecture, tokenizer, { seed: ctx.seed });
    if (options.checkpoint !== undefined) {
      try {
        await policy.load(resolve(ctx.baseDir, options.checkpoint));
      } catch (e) {
        policy.dispose();
        throw e;
      }
    }
    return policy;
  },
});
