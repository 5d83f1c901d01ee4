import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import {
  createRunContainer,
  deriveSeed,
  evaluatePolicy,
  initBackend,
  resolveWasmThreads,
  MAX_WASM_THREADS,
  wasmThreads,
  loadConfigFile,
  readTrainingState,
  truncateMetricsAfterStep,
  writeJsonAtomic,
  MetricsWriter,
  type MetricsRow,
  POLICY,
  REWARD_FUNCTION,
  TASK,
  type DependencyContainer,
  type EvalResult,
  type ResolvedConfig,
  type StrategyKind,
  type StrategyRegistry,
} from '@mmrl/core';
import { createRegistry, type PluginOptions } from './registry.js';
import { TENSORBOARD_DIR, TensorBoardWriter } from './tracking/tensorboard.js';

export interface CommonOptions extends PluginOptions {
  seed?: string;
  backend?: string;
  threads?: string;
  out?: string;
  name?: string;
  checkpoint?: string;
  quiet?: boolean;
  /** `mmrl train --resume <run-dir>`: continue that run from its training checkpoint, in the same directory. */
  resume?: string;
  /** `--tensorboard`: also write TensorBoard event files (as `output.tensorboard: true`). */
  tensorboard?: boolean;
}

/** What a resumed session continues from. */
export interface ResumeInfo {
  /** The training checkpoint (`<run-dir>/checkpoint`). */
  checkpointDir: string;
  /** Completed RL steps in the checkpoint. */
  step: number;
  /** metrics.jsonl rows kept (those up to the checkpoint's step). */
  rows: MetricsRow[];
}

/** `--threads <n>`: 'auto' or 1…MAX_WASM_THREADS. */
function parseThreads(value: string): 'auto' | number {
  if (value === 'auto') return value;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_WASM_THREADS) {
    throw new Error(`--threads must be auto or an integer from 1 to ${MAX_WASM_THREADS}, got "${value}"`);
  }
  return n;
}

/** `wasm (2 threads)`, or the backend's name. */
function describeBackend(backend: string): string {
  const threads = wasmThreads();
  return backend === 'wasm' && threads !== null ? `wasm (${threads} thread${threads === 1 ? '' : 's'})` : backend;
}

/** One CLI run: config, backend, DI container, run directory. */
export interface Session {
  config: ResolvedConfig;
  container: DependencyContainer;
  backend: string;
  runDir: string;
  metrics: MetricsWriter;
  log: (line: string) => void;
  /** Set when the session resumes a run (`--resume`). */
  resume?: ResumeInfo;
}

/** Versions of node, tfjs, the mmrl packages and every loaded plugin (by its meta.name). */
function versions(registry: StrategyRegistry): Record<string, string> {
  const require = createRequire(import.meta.url);
  const out: Record<string, string> = { node: process.version, tfjs: tf.version_core };
  for (const pkg of ['@mmrl/core', '@mmrl/plugins', '@mmrl/cli']) {
    try {
      out[pkg] = (require(`${pkg}/package.json`) as { version: string }).version;
    } catch {
      /* not resolvable from here */
    }
  }
  for (const { meta } of registry.listPlugins()) out[meta.name] ??= meta.version;
  return out;
}

/** Settings that may differ between a run and its resumption without changing the training itself. */
const RESUMABLE_DIFFERENCES = [
  '/trainer/steps',
  '/trainer/checkpointEvery',
  '/trainer/evalEvery',
  '/runtime',
  '/output',
  '/init',
  '/$schema',
  '/plugins',
];

/** JSON pointers where two JSON values differ (leaves only). */
function differences(a: unknown, b: unknown, pointer = ''): string[] {
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) =>
      differences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${pointer}/${k}`),
    );
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [pointer];
}

/**
 * Loads and validates the config (CLI overrides applied first), sets up the backend, builds the run container and
 * the run directory (`<output.dir>/<name>`, holding config.json and metrics.jsonl). With `opts.resume` the run
 * directory is the given one: its training checkpoint must exist, and metrics.jsonl keeps the rows up to the
 * checkpoint's step (later rows, from a run that went on past its last checkpoint, are dropped).
 */
export async function openSession(configPath: string, opts: CommonOptions, kinds?: StrategyKind[]): Promise<Session> {
  const registry = await createRegistry(opts, configPath);
  const { config, baseDir } = await loadConfigFile(registry, configPath);
  let resumeDir: string | undefined;
  let resumeState: Awaited<ReturnType<typeof readTrainingState>> | undefined;
  if (opts.resume !== undefined) {
    if (opts.name !== undefined || opts.out !== undefined) {
      throw new Error('--resume continues the given run directory; it cannot be combined with --out or --name');
    }
    resumeDir = resolve(opts.resume);
    resumeState = await readTrainingState(join(resumeDir, 'checkpoint'));
    // The seed of the run being resumed, unless overridden on the command line.
    const saved = resumeState.config as ResolvedConfig | undefined;
    if (opts.seed === undefined && saved && typeof saved.seed === 'number') config.seed = saved.seed;
  }
  if (opts.seed !== undefined) {
    const seed = Number(opts.seed);
    if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer, got "${opts.seed}"`);
    config.seed = seed;
  }
  if (opts.backend !== undefined) config.runtime.backend = opts.backend as ResolvedConfig['runtime']['backend'];
  if (opts.threads !== undefined) config.runtime.threads = parseThreads(opts.threads);
  if (opts.tensorboard) config.output.tensorboard = true;
  if (opts.checkpoint !== undefined) config.init.checkpoint = resolve(opts.checkpoint);
  else if (config.init.checkpoint) config.init.checkpoint = resolve(baseDir, config.init.checkpoint);
  const backend = await initBackend(config.runtime.backend, { threads: resolveWasmThreads(config.runtime.threads) });
  const container = await createRunContainer(registry, config, { baseDir, ...(kinds ? { kinds } : {}) });
  // The policy starts from init.checkpoint (loaded by createRunContainer); a resumed run then loads its training
  // checkpoint over it.
  const log = opts.quiet ? () => {} : (line: string) => console.log(line);
  const metricsFile = (dir: string) => join(dir, 'metrics.jsonl');
  // TensorBoard event files mirror metrics.jsonl: a new or resumed run rewrites them from the rows it keeps.
  const sinks = (dir: string, kept: readonly MetricsRow[]) => {
    if (!config.output.tensorboard) return [];
    const writer = new TensorBoardWriter(join(dir, TENSORBOARD_DIR), { replace: true });
    for (const row of kept) writer.write(row);
    return [writer];
  };
  if (resumeDir && resumeState) {
    const changed = differences(resumeState.config, config).filter(
      (p) => !RESUMABLE_DIFFERENCES.some((allowed) => p === allowed || p.startsWith(`${allowed}/`)),
    );
    if (changed.length > 0) {
      console.warn(
        `mmrl: warning: the config differs from the one of the run being resumed at ${changed.join(', ')}; ` +
          'the resumed steps will not match an uninterrupted run',
      );
    }
    const rows = await truncateMetricsAfterStep(metricsFile(resumeDir), resumeState.step);
    await writeJsonAtomic(join(resumeDir, 'config.json'), {
      config,
      versions: versions(registry),
      backend,
      configFile: resolve(configPath),
      resumedAtStep: resumeState.step,
    });
    log(`mmrl: backend ${describeBackend(backend)}, seed ${config.seed}, resuming run directory ${resumeDir} at step ${resumeState.step}`);
    return {
      config,
      container,
      backend,
      runDir: resumeDir,
      metrics: new MetricsWriter(metricsFile(resumeDir), sinks(resumeDir, rows)),
      log,
      resume: { checkpointDir: join(resumeDir, 'checkpoint'), step: resumeState.step, rows },
    };
  }
  const name = opts.name ?? config.output.name ?? `${new Date().toISOString().replace(/[:.]/g, '-')}-seed${config.seed}`;
  // output.dir is relative to the working directory, like any CLI output path.
  const runDir = resolve(opts.out ?? config.output.dir, name);
  await mkdir(runDir, { recursive: true });
  await writeJsonAtomic(join(runDir, 'config.json'), { config, versions: versions(registry), backend, configFile: resolve(configPath) });
  await writeFile(metricsFile(runDir), '');
  log(`mmrl: backend ${describeBackend(backend)}, seed ${config.seed}, run directory ${runDir}`);
  return { config, container, backend, runDir, metrics: new MetricsWriter(metricsFile(runDir), sinks(runDir, [])), log };
}

/** Held-out evaluation (greedy pass@1 on test images) of the session's policy. */
export async function evaluateSession(s: Session, label: string): Promise<EvalResult> {
  const task = s.container.resolve(TASK);
  const prompts = task.prompts('test', s.config.eval.prompts, deriveSeed(s.config.eval.seed, 'eval'));
  const result = await evaluatePolicy(
    s.container.resolve(POLICY),
    task,
    s.container.resolve(REWARD_FUNCTION),
    prompts,
    s.config.trainer.maxResponseTokens,
  );
  s.metrics.write({ phase: 'eval', label, ...result });
  s.log(
    `held-out accuracy (${label}): ${pct(result.accuracy)} on ${result.prompts} test prompts ` +
      `(format ${pct(result.format)}, blind baseline ${pct(result.blindBaseline)})`,
  );
  return result;
}

export function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}
