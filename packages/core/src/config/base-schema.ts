import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { BACKENDS } from '../runtime/backend.js';
import { MAX_WASM_THREADS } from '../runtime/wasm-threads.js';

/** A strategy slot in a config: `{ name, options }`. Its options schema comes from the registry. */
export interface Slot<O = Record<string, unknown>> {
  name: string;
  options: O;
}

/**
 * The parts of a run config that no strategy owns. Strategy slots are filled in by `composeConfigSchema` from the
 * registry; `slot(kind)` placeholders mark where.
 */
export function baseConfigSchema(slot: (kind: string) => TSchema, slotList: (kind: string) => TSchema) {
  return Type.Object(
    {
      $schema: Type.Optional(Type.String({ description: 'Path or URL of the composed JSON schema (editor completion).' })),
      plugins: Type.Array(Type.String({ minLength: 1 }), {
        default: [],
        description:
          'Third-party plugin modules to load before the config is validated: npm package names or paths (relative to this file); each default-exports { meta, strategies }.',
      }),
      seed: Type.Integer({ minimum: 0, default: 1, description: 'Global seed: sampling, prompts, initial weights.' }),
      runtime: Type.Object(
        {
          backend: Type.Union(
            BACKENDS.map((b) => Type.Literal(b)),
            { default: 'auto', description: 'tfjs backend: auto takes tensorflow when installed, else wasm.' },
          ),
          threads: Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 1, maximum: MAX_WASM_THREADS })], {
            default: 'auto',
            description: `Threads of the wasm backend (1 to ${MAX_WASM_THREADS}; auto: the available cores, at most ${MAX_WASM_THREADS}). Results are bit-identical for any count; other backends ignore it.`,
          }),
        },
        { additionalProperties: false, default: {} },
      ),
      task: slot('task'),
      policy: slot('policy'),
      reward: slot('reward-function'),
      sft: Type.Object(
        {
          steps: Type.Integer({ minimum: 0, default: 200, description: 'Supervised warm-up steps on oracle traces.' }),
          batchSize: Type.Integer({ minimum: 1, default: 32 }),
          learningRate: Type.Number({ exclusiveMinimum: 0, default: 1e-3 }),
          trainPrompts: Type.Integer({ minimum: 1, default: 2000, description: 'Size of the SFT prompt pool.' }),
          rectificationFraction: Type.Number({
            minimum: 0,
            maximum: 1,
            default: 0,
            description:
              "Fraction of SFT examples that teach IVR-R1's re-reasoning turns (half critiques of a corrupted response, half rectifications); needs a task with critique formats.",
          }),
        },
        { additionalProperties: false, default: {} },
      ),
      trainer: Type.Object(
        {
          steps: Type.Integer({ minimum: 0, default: 100, description: 'RL steps (one rollout batch each).' }),
          promptsPerStep: Type.Integer({ minimum: 1, default: 16 }),
          learningRate: Type.Number({ exclusiveMinimum: 0, default: 3e-4 }),
          adamBeta1: Type.Number({ minimum: 0, maximum: 1, default: 0.9 }),
          adamBeta2: Type.Number({ minimum: 0, maximum: 1, default: 0.999 }),
          maxGradNorm: Type.Number({ minimum: 0, default: 1.0, description: 'Global gradient-norm clip (0 = off).' }),
          lrSchedule: Type.Optional(
            Type.Object(
              {
                name: Type.Union([Type.Literal('constant'), Type.Literal('linear'), Type.Literal('cosine')], {
                  description:
                    'constant: learningRate after warm-up; linear / cosine: decay from learningRate to minRatio × learningRate at the last RL step (trainer/lr-schedule.ts).',
                }),
                warmupSteps: Type.Integer({
                  minimum: 0,
                  default: 0,
                  description: 'RL steps of linear warm-up to learningRate (0 = none).',
                }),
                minRatio: Type.Number({
                  minimum: 0,
                  maximum: 1,
                  default: 0,
                  description: 'The rate at the last RL step as a fraction of learningRate (linear and cosine).',
                }),
              },
              {
                additionalProperties: false,
                description:
                  'Learning-rate schedule, set once per RL step (absent = constant learningRate, no warm-up; no default, so configs written before it keep their ablation hash).',
              },
            ),
          ),
          ppoEpochs: Type.Integer({ minimum: 1, default: 1, description: 'Passes over each rollout batch.' }),
          miniBatches: Type.Integer({ minimum: 1, default: 1, description: 'Optimizer updates per epoch.' }),
          microBatchSize: Type.Integer({
            minimum: 0,
            default: 0,
            description:
              'Rows per forward/backward pass; gradients of a mini-batch are accumulated over its micro-batches before one update (0 = the whole mini-batch).',
          }),
          oldLogprobs: Type.Optional(
            Type.Union([Type.Literal('recompute'), Type.Literal('rollout')], {
              description:
                "Where the PPO ratio's denominator log πθold of on-policy rows comes from. recompute (absent = recompute): a forward pass of the policy over the whole batch before the update. rollout: the logprobs the sampler recorded (full-vocabulary log-softmax at the rollout temperature, the same quantity up to float rounding), so that forward pass is skipped; rows of other sources (expert, rectified, noised) are still forwarded, and every row is when a token weighter asks the forward for more than logprobs (entropy, hidden states, image-less logprobs).",
            }),
          ),
          maxResponseTokens: Type.Integer({ minimum: 1, default: 24, description: 'Response length limit (EOS included).' }),
          temperature: Type.Number({ exclusiveMinimum: 0, default: 1.0, description: 'Rollout sampling temperature.' }),
          topP: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 1.0 }),
          trainPrompts: Type.Integer({ minimum: 1, default: 2000, description: 'Size of the RL prompt pool.' }),
          sources: slotList('trajectory-source'),
          advantage: slot('advantage-estimator'),
          weighters: slotList('token-weighter'),
          objective: slot('policy-objective'),
          evalEvery: Type.Integer({ minimum: 0, default: 0, description: 'Held-out evaluation every k steps (0 = end only).' }),
          checkpointEvery: Type.Integer({
            minimum: 0,
            default: 0,
            description: 'Write the training checkpoint every k steps (0 = at the end only).',
          }),
          dynamicSampling: Type.Object(
            {
              enabled: Type.Boolean({
                default: false,
                description:
                  'DAPO dynamic sampling: drop the groups the rule rejects and sample further rounds of fresh prompts until promptsPerStep groups are kept (METHODS.md §6.1).',
              }),
              rule: Type.Union([Type.Literal('range'), Type.Literal('not-all-equal')], {
                default: 'range',
                description:
                  'range: keep a group iff low < mean(metric) < high (EasyR1); not-all-equal: keep a group iff its metric values are not all equal, or it has one member (verl filter_groups); low/high unused (METHODS.md §6.1).',
              }),
              metric: Type.Union([Type.Literal('accuracy'), Type.Literal('reward')], {
                default: 'accuracy',
                description: 'Per-trajectory value the rule reads (METHODS.md D-1).',
              }),
              low: Type.Number({ default: 0.01, description: 'Rule range: keep a group iff low < mean(metric).' }),
              high: Type.Number({ default: 0.99, description: 'Rule range: keep a group iff mean(metric) < high.' }),
              maxRounds: Type.Integer({
                minimum: 1,
                default: 20,
                description: 'Rollout rounds per step before the run stops with an error (EasyR1 max_try_make_batch).',
              }),
            },
            { additionalProperties: false, default: {} },
          ),
        },
        { additionalProperties: false },
      ),
      eval: Type.Object(
        {
          prompts: Type.Integer({ minimum: 1, default: 300, description: 'Held-out test prompts (test images only).' }),
          seed: Type.Integer({ minimum: 0, default: 12345, description: 'Seed of the held-out prompt set.' }),
          samples: Type.Integer({
            minimum: 0,
            default: 0,
            description: 'mmrl eval: samples per prompt for pass@k (0 = greedy pass@1 only).',
          }),
          passK: Type.Array(Type.Integer({ minimum: 1 }), {
            default: [1, 4, 8],
            minItems: 1,
            description: 'The k of pass@k (each ≤ samples).',
          }),
          temperature: Type.Number({ exclusiveMinimum: 0, default: 1.0, description: 'Sampling temperature for pass@k.' }),
        },
        { additionalProperties: false, default: {} },
      ),
      output: Type.Object(
        {
          dir: Type.String({ default: 'runs', description: 'Parent of run directories.' }),
          name: Type.Optional(Type.String({ description: 'Run directory name (default: a timestamp).' })),
          tensorboard: Type.Optional(
            Type.Boolean({
              description:
                'Also write TensorBoard event files (<run>/tensorboard/events.out.tfevents.*) with every metrics row; ' +
                'view with `tensorboard --logdir <run or ablation dir>`. Changes no number of the run.',
            }),
          ),
        },
        { additionalProperties: false, default: {} },
      ),
      init: Type.Object(
        {
          checkpoint: Type.Optional(Type.String({ description: 'Policy checkpoint to start from (directory).' })),
        },
        { additionalProperties: false, default: {} },
      ),
    },
    { additionalProperties: false },
  );
}

/** `trainer.lrSchedule` (trainer/lr-schedule.ts); absent = constant at `trainer.learningRate` (no warm-up). */
export interface LrScheduleConfig {
  /** constant: the peak rate after warm-up; linear / cosine: decay from the peak to `minRatio` × peak at the last step. */
  name: 'constant' | 'linear' | 'cosine';
  /** Steps of linear warm-up from peak/warmupSteps to the peak (0 = none). */
  warmupSteps?: number;
  /** The rate at the last step, as a fraction of the peak (linear and cosine; 0 to 1). */
  minRatio?: number;
}

export interface ResolvedConfig {
  /** Plugin specifiers as written in the config (loaded by the CLI before validation). */
  plugins: string[];
  seed: number;
  runtime: { backend: (typeof BACKENDS)[number]; threads: 'auto' | number };
  task: Slot;
  policy: Slot;
  reward: Slot;
  sft: { steps: number; batchSize: number; learningRate: number; trainPrompts: number; rectificationFraction: number };
  trainer: {
    steps: number;
    promptsPerStep: number;
    learningRate: number;
    adamBeta1: number;
    adamBeta2: number;
    maxGradNorm: number;
    /** Absent = constant `learningRate` (no default, so configs written before it keep their ablation hash). */
    lrSchedule?: LrScheduleConfig;
    ppoEpochs: number;
    miniBatches: number;
    microBatchSize: number;
    /** Absent = `recompute` (no default, so configs written before it keep their ablation hash). */
    oldLogprobs?: 'recompute' | 'rollout';
    maxResponseTokens: number;
    temperature: number;
    topP: number;
    trainPrompts: number;
    sources: Slot[];
    advantage: Slot;
    weighters: Slot[];
    objective: Slot;
    evalEvery: number;
    checkpointEvery: number;
    dynamicSampling: {
      enabled: boolean;
      /** Absent (configs built in code) = `range`; validation fills it in. */
      rule?: 'range' | 'not-all-equal';
      metric: 'accuracy' | 'reward';
      low: number;
      high: number;
      maxRounds: number;
    };
  };
  eval: { prompts: number; seed: number; samples: number; passK: number[]; temperature: number };
  output: { dir: string; name?: string; tensorboard?: boolean };
  init: { checkpoint?: string };
}

export type BaseConfig = Static<ReturnType<typeof baseConfigSchema>>;
