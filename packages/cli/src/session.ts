import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import {
  createRunContainer,
  deriveSeed,
  evaluatePolicy,
  initBackend,
  loadConfigFile,
  writeJsonAtomic,
  MetricsWriter,
  POLICY,
  REWARD_FUNCTION,
  TASK,
  type DependencyContainer,
  type EvalResult,
  type ResolvedConfig,
  type StrategyKind,
} from '@mmrl/core';
import { createRegistry } from './registry.js';

export interface CommonOptions {
  seed?: string;
  backend?: string;
  out?: string;
  name?: string;
  checkpoint?: string;
  quiet?: boolean;
}

/** One CLI run: config, backend, DI container, run directory. */
export interface Session {
  config: ResolvedConfig;
  container: DependencyContainer;
  backend: string;
  runDir: string;
  metrics: MetricsWriter;
  log: (line: string) => void;
}

function versions(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const out: Record<string, string> = { node: process.version, tfjs: tf.version_core };
  for (const pkg of ['@mmrl/core', '@mmrl/plugins', '@mmrl/cli']) {
    try {
      out[pkg] = (require(`${pkg}/package.json`) as { version: string }).version;
    } catch {
      /* not resolvable from here */
    }
  }
  return out;
}

/**
 * Loads and validates the config (CLI overrides applied first), sets up the backend, builds the run container and
 * the run directory (`<output.dir>/<name>`, holding config.json and metrics.jsonl).
 */
export async function openSession(configPath: string, opts: CommonOptions, kinds?: StrategyKind[]): Promise<Session> {
  const registry = createRegistry();
  const { config, baseDir } = await loadConfigFile(registry, configPath);
  if (opts.seed !== undefined) {
    const seed = Number(opts.seed);
    if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer, got "${opts.seed}"`);
    config.seed = seed;
  }
  if (opts.backend !== undefined) config.runtime.backend = opts.backend as ResolvedConfig['runtime']['backend'];
  if (opts.checkpoint !== undefined) config.init.checkpoint = resolve(opts.checkpoint);
  else if (config.init.checkpoint) config.init.checkpoint = resolve(baseDir, config.init.checkpoint);
  const backend = await initBackend(config.runtime.backend);
  const container = await createRunContainer(registry, config, { baseDir, ...(kinds ? { kinds } : {}) });
  if (config.init.checkpoint) {
    // A training checkpoint holds the policy under policy/; a policy checkpoint is the directory itself.
    const inner = join(config.init.checkpoint, 'policy');
    await container.resolve(POLICY).load(existsSync(join(inner, 'manifest.json')) ? inner : config.init.checkpoint);
  }
  const name = opts.name ?? config.output.name ?? `${new Date().toISOString().replace(/[:.]/g, '-')}-seed${config.seed}`;
  // output.dir is relative to the working directory, like any CLI output path.
  const runDir = resolve(opts.out ?? config.output.dir, name);
  await mkdir(runDir, { recursive: true });
  await writeJsonAtomic(join(runDir, 'config.json'), { config, versions: versions(), backend, configFile: resolve(configPath) });
  await writeFile(join(runDir, 'metrics.jsonl'), '');
  const log = opts.quiet ? () => {} : (line: string) => console.log(line);
  log(`mmrl: backend ${backend}, seed ${config.seed}, run directory ${runDir}`);
  return { config, container, backend, runDir, metrics: new MetricsWriter(join(runDir, 'metrics.jsonl')), log };
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
