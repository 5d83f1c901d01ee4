/**
 * `npm run bench [-- --backend wasm|cpu|webgpu] [--threads N|auto] [--no-kernel-fixes] [--only name[,name…]]
 *   [--sampling all|cached|none] [--steps N] [--warmup N]`
 *
 * Throughput benchmarks; one JSON line per result on stdout, progress on stderr. See bench/README.md.
 *   op-overhead      one kernel launch: 2,000 chained adds of 1,024 floats (µs per op)
 *   transformer      torch-reference.py's model (d=128, 4 layers, batch 32 × 128 tokens): train step
 *   transformer-25m  the same at d=512, 8 layers, batch 64 × 256 tokens (about 25M parameters)
 *   vlm-student   the vlm policy, dModel 128 × 4 layers: train step (128 oracle rows), sampling with/without KV cache
 *   vlm-expert    the vlm policy, dModel 192 × 6 layers: the same
 *   rl-grpo-student, rl-tgrl-student   one RL step of examples/configs/grpo.yaml / tgrl.yaml (`mmrl train`), by phase
 *   rl-grpo-small, rl-tgrl-small       the same for grpo-small.yaml / tgrl-small.yaml (the calibrated count regime)
 *   rl-{grpo,tgrl}-small-{recompute,rollout}  the same with trainer.oldLogprobs forced (the old-policy forward cut)
 */
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import {
  BACKENDS,
  countWebGpuDispatches,
  createAdam,
  defaultWasmThreads,
  initBackend,
  MAX_WASM_THREADS,
  wasmThreads,
  type BackendName,
} from '@mmrl/core';
import {
  BenchTransformer,
  TORCH_REFERENCE,
  TRANSFORMER_25M,
  benchForward,
  benchForwardBackward,
  benchTrainStep,
  randomTokenBatch,
} from './bench-model.js';
import {
  VLM_SIZES,
  createBenchPolicy,
  disposeBatch,
  loadBenchTask,
  oracleBatch,
  sampleRequest,
  sampleWithCache,
  sampleWithoutCache,
  suppressEos,
  vlmTrainStep,
  type VlmSizeName,
} from './vlm-bench.js';
import { RL_PHASES, RL_STEP_CONFIGS, RL_STEP_OLD_LOGPROBS, benchRlStep, type RlStepName } from './rl-step.js';

const TRANSFORMERS = { transformer: TORCH_REFERENCE, 'transformer-25m': TRANSFORMER_25M } as const;
type TransformerName = keyof typeof TRANSFORMERS;
/** `op-overhead`: the cost of one tiny kernel launch (no model). */
const OP_OVERHEAD = 'op-overhead';
const MODELS = [
  OP_OVERHEAD,
  ...(Object.keys(TRANSFORMERS) as TransformerName[]),
  ...(Object.keys(VLM_SIZES) as VlmSizeName[]),
  ...(Object.keys(RL_STEP_CONFIGS) as RlStepName[]),
] as const;
/** Chained element-wise adds of `OP_OVERHEAD_SIZE` floats timed per run of `OP_OVERHEAD_OPS`. */
const OP_OVERHEAD_OPS = 2000;
const OP_OVERHEAD_SIZE = 1024; // above tfjs webgpu's CPU hand-off threshold (1,000 elements): every add is a GPU dispatch
/** Rows of the vlm train batch and of the sampling batch (16 prompts × 8 samples, the demo's RL batch). */
const VLM_ROWS = 128;
const SAMPLE_PROMPTS = 16;
const SAMPLES_PER_PROMPT = 8;
const NEW_TOKENS = 48;

// Everything but the result lines goes to stderr (tfjs and emscripten log with console.log/warn).
const writeResult = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
console.log = console.error;
console.info = console.error;
const progress = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: npm run bench -- [--backend ${BACKENDS.filter((b) => b !== 'auto').join('|')}] [--threads N|auto] [--no-kernel-fixes] ` +
      `[--only ${MODELS.join(',')}] [--sampling all|cached|none] [--steps N] [--warmup N]\n`,
  );
  process.exit(2);
}

const { values: args } = (() => {
  try {
    return parseArgs({
      options: {
        backend: { type: 'string', default: 'wasm' },
        threads: { type: 'string', default: 'auto' },
        'no-kernel-fixes': { type: 'boolean', default: false },
        sampling: { type: 'string', default: 'all' },
        only: { type: 'string' },
        steps: { type: 'string' },
        warmup: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    return usage((e as Error).message);
  }
})();
if (args.help) usage('mmrl throughput benchmarks');

const backendArg = args.backend!;
if (!(BACKENDS as readonly string[]).includes(backendArg)) usage(`unknown --backend ${backendArg}`);
const kernelFixes = !args['no-kernel-fixes'];
// The 25M model's train step needs more than wasm32's 4 GiB heap (its attention probabilities alone are 268 MB per
// layer, kept for the backward pass): by default it runs only on the GPU backends.
const cpuBackend = backendArg === 'wasm' || backendArg === 'cpu';
const only =
  args.only === undefined
    ? MODELS.filter((m) => !(cpuBackend && m === 'transformer-25m'))
    : args.only.split(',').map((s) => s.trim());
for (const name of only) if (!(MODELS as readonly string[]).includes(name)) usage(`unknown --only ${name}`);
const positiveInt = (s: string | undefined, flag: string, min: number): number | undefined => {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) usage(`${flag} must be an integer ≥ ${min}, got ${s}`);
  return n;
};
const stepsArg = positiveInt(args.steps, '--steps', 1);
const sampling = args.sampling!;
if (!['all', 'cached', 'none'].includes(sampling)) usage(`--sampling must be all, cached or none, got ${sampling}`);
const warmup = positiveInt(args.warmup, '--warmup', 0) ?? 1;

const threadsArg = args.threads === 'auto' ? defaultWasmThreads() : positiveInt(args.threads, '--threads', 1)!;
if (threadsArg > MAX_WASM_THREADS) usage(`--threads must be auto or 1 to ${MAX_WASM_THREADS}, got ${args.threads}`);

const backend = await initBackend(backendArg as BackendName, { kernelFixes, threads: threadsArg }).catch((e: Error) => {
  process.stderr.write(`bench: ${e.message}\n`);
  process.exit(1);
});
const threads = backend === 'wasm' ? wasmThreads() : undefined;
const common = { backend, ...(threads != null ? { threads } : {}), kernelFixes };
progress(`backend ${backend}${threads != null ? ` (${threads} threads)` : ''}, kernel fixes ${kernelFixes ? 'on' : 'off'}, tfjs ${tf.version.tfjs}`);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (x: number, digits = 1) => Number(x.toFixed(digits));

/**
 * Runs `warm` untimed calls (of `warmFn`, default `fn`) then `steps` timed calls of `fn`; both must sync (await a
 * read) before they return. Returns the timed milliseconds.
 */
async function time(label: string, warm: number, steps: number, fn: () => Promise<unknown>, warmFn = fn): Promise<number[]> {
  for (let i = 0; i < warm; i++) {
    const t0 = performance.now();
    await warmFn();
    progress(`${label} warm-up ${i + 1}/${warm}: ${(performance.now() - t0).toFixed(0)} ms`);
  }
  const ms: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
    progress(`${label} ${i + 1}/${steps}: ${ms[i]!.toFixed(0)} ms`);
  }
  return ms;
}

async function benchTransformer(name: TransformerName): Promise<void> {
  const { batch, ...config } = TRANSFORMERS[name];
  const model = new BenchTransformer(config, 0);
  const { ids, targets } = randomTokenBatch(config, batch, 0);
  // mmrl's Adam: the fused kernel on webgpu unless --no-kernel-fixes (then tfjs' own update).
  const optimizer = createAdam(1e-3, 0.9, 0.999, kernelFixes);
  const steps = stepsArg ?? (kernelFixes ? 3 : 2);
  const forward = await time(`${name} forward`, warmup, steps, () => benchForward(model, ids, targets));
  const forwardBackward = await time(`${name} forward+backward`, warmup, steps, () => benchForwardBackward(model, ids, targets));
  const ms = await time(`${name} train-step`, warmup, steps, () => benchTrainStep(model, optimizer, ids, targets));
  const dispatches = await countWebGpuDispatches(() => benchTrainStep(model, optimizer, ids, targets));
  const tokens = batch * config.seq;
  const m = median(ms);
  writeResult({
    bench: 'train-step',
    model: name,
    ...common,
    params: model.parameterCount(),
    batch,
    tokensPerStep: tokens,
    msPerStep: round(m),
    tokensPerSecond: Math.round((tokens / m) * 1000),
    msForward: round(median(forward)),
    msForwardBackward: round(median(forwardBackward)),
    // What the optimizer adds to forward + backward (Adam, and the gradient bookkeeping of minimize).
    msOptimizer: round(m - median(forwardBackward)),
    ...(dispatches === null ? {} : { dispatchesPerStep: dispatches }),
    steps,
  });
  optimizer.dispose();
  tf.dispose([ids, targets]);
  model.dispose();
}

async function benchVlm(name: VlmSizeName): Promise<void> {
  const task = await loadBenchTask();
  const policy = createBenchPolicy(task, name, 1);
  const params = policy.parameterCount();
  progress(`${name}: ${params} parameters, ${policy.model.patches} image tokens`);

  // Train step: 128 real prompts + oracle responses.
  {
    const { batch, responseTokens, sequenceLength } = oracleBatch(task, policy, VLM_ROWS, 1);
    const optimizer = createAdam(1e-3, 0.9, 0.999, kernelFixes);
    const steps = stepsArg ?? 5;
    const ms = await time(`${name} train-step`, warmup, steps, () => vlmTrainStep(policy, optimizer, batch, responseTokens));
    const dispatches = await countWebGpuDispatches(() => vlmTrainStep(policy, optimizer, batch, responseTokens));
    const tokens = VLM_ROWS * sequenceLength;
    const m = median(ms);
    writeResult({
      bench: 'train-step',
      model: name,
      ...common,
      params,
      batch: VLM_ROWS,
      tokensPerStep: tokens,
      msPerStep: round(m),
      tokensPerSecond: Math.round((tokens / m) * 1000),
      ...(dispatches === null ? {} : { dispatchesPerStep: dispatches }),
      steps,
      sequenceLength,
    });
    optimizer.dispose();
    disposeBatch(batch);
  }

  // Sampling: 16 prompts × 8 samples = 128 rows, 48 new tokens each (EOS made unsampleable so no row stops early).
  if (sampling === 'none') {
    policy.dispose();
    return;
  }
  suppressEos(policy);
  const request = sampleRequest(task, policy, SAMPLE_PROMPTS, SAMPLES_PER_PROMPT, NEW_TOKENS, 2);
  const rows = SAMPLE_PROMPTS * SAMPLES_PER_PROMPT;
  const results: { cache: boolean; ms: number; tokens: number; steps: number; dispatchesPerToken: number | null }[] = [];
  for (const cache of sampling === 'all' ? [true, false] : [true]) {
    let tokens = 0;
    const steps = stepsArg ?? (cache ? 3 : 1);
    const label = `${name} sample (${cache ? 'KV cache' : 'no cache'})`;
    const run = (r: typeof request) =>
      cache ? sampleWithCache(policy, r) : sampleWithoutCache(policy.model, r, policy.tokenizer.eosId, policy.tokenizer.padId);
    // The cache-less loop's warm-up decodes 4 tokens only: each of its steps has new shapes anyway, and a full run
    // takes minutes on wasm.
    const warmRequest = cache ? request : { ...request, maxNewTokens: 4 };
    const ms = await time(
      label,
      warmup,
      steps,
      async () => {
        tokens = await run(request);
      },
      () => run(warmRequest),
    );
    // Compute dispatches of one whole generation (webgpu only), divided by the decoding steps: what the per-dispatch
    // overhead of a GPU multiplies for each sampled token of the batch.
    const dispatches = cache ? await countWebGpuDispatches(() => run(request)) : null;
    results.push({ cache, ms: median(ms), tokens, steps, dispatchesPerToken: dispatches === null ? null : Math.round(dispatches / NEW_TOKENS) });
  }
  const rate = (r: (typeof results)[number]) => (r.tokens / r.ms) * 1000;
  const speedup = results.length === 2 ? rate(results[0]!) / rate(results[1]!) : null;
  for (const r of results) {
    writeResult({
      bench: 'sample',
      model: name,
      ...common,
      params,
      batch: rows,
      tokensPerStep: r.tokens,
      msPerStep: round(r.ms),
      tokensPerSecond: Math.round(rate(r)),
      cache: r.cache,
      ...(r.dispatchesPerToken === null ? {} : { dispatchesPerToken: r.dispatchesPerToken }),
      steps: r.steps,
      newTokens: NEW_TOKENS,
      ...(r.cache && speedup !== null ? { speedupVsNoCache: round(speedup, 2) } : {}),
    });
  }
  policy.dispose();
}

/**
 * The per-kernel cost a train step multiplies by its dispatches: {@link OP_OVERHEAD_OPS} chained adds of
 * {@link OP_OVERHEAD_SIZE} floats (no arithmetic to speak of), synchronised once by an async read. `usPerOp` is the
 * median over the timed runs; on webgpu it is the host side of a dispatch (tfjs, the bindings, Dawn) plus whatever the
 * driver adds per dispatch and per submit, so comparing it between machines separates dispatch overhead from kernel time.
 */
async function benchOpOverhead(): Promise<void> {
  const one = tf.ones([OP_OVERHEAD_SIZE]);
  let x = tf.ones([OP_OVERHEAD_SIZE]);
  const chain = async () => {
    for (let i = 0; i < OP_OVERHEAD_OPS; i++) {
      const y = tf.add(x, one);
      x.dispose();
      x = y;
    }
    await x.data();
  };
  const ms = await time(OP_OVERHEAD, warmup, stepsArg ?? 3, chain);
  const dispatches = await countWebGpuDispatches(chain);
  const m = median(ms);
  writeResult({
    bench: 'op-overhead',
    model: OP_OVERHEAD,
    ...common,
    ops: OP_OVERHEAD_OPS,
    elements: OP_OVERHEAD_SIZE,
    msPerStep: round(m),
    usPerOp: round((m * 1000) / OP_OVERHEAD_OPS, 2),
    ...(dispatches === null ? {} : { dispatchesPerStep: dispatches }),
    steps: ms.length,
  });
  tf.dispose([one, x]);
}

/** One RL step of a shipped config, by phase (bench/rl-step.ts): seconds per phase and each phase's share of the step. */
function benchRlStepResult(name: RlStepName): void {
  progress(`${name}: mmrl train ${RL_STEP_CONFIGS[name]} for ${(stepsArg ?? 3) + 2} steps`);
  const r = benchRlStep(name, { steps: stepsArg ?? 3, threads: threadsArg, backend });
  const step = r.phases.step_s;
  writeResult({
    bench: 'rl-step',
    model: name,
    ...common,
    config: r.config,
    oldLogprobs: RL_STEP_OLD_LOGPROBS[name] ?? 'as configured',
    steps: r.steps,
    trajectories: r.trajectories,
    responseTokens: r.responseTokens,
    ...Object.fromEntries(RL_PHASES.map((p) => [`s_${p.replace(/_s$/, '')}`, round(r.phases[p], 3)])),
    // Shares of the step (eval excluded: it runs every `trainer.evalEvery` steps, not every step).
    ...Object.fromEntries(
      RL_PHASES.filter((p) => p !== 'eval_s' && p !== 'step_s').map((p) => [`share_${p.replace(/_s$/, '')}`, round(r.phases[p] / step, 3)]),
    ),
    evalPrompts: r.evalPrompts,
  });
}

for (const name of MODELS) {
  if (!only.includes(name)) continue;
  if (name === OP_OVERHEAD) await benchOpOverhead();
  else if (name in RL_STEP_CONFIGS) benchRlStepResult(name as RlStepName);
  else if (name in TRANSFORMERS) await benchTransformer(name as TransformerName);
  else await benchVlm(name as VlmSizeName);
  progress(`${name} done; ${tf.memory().numTensors} tensors live`);
}
