/**
 * The RL step profile: a real `mmrl train` run of a shipped method config for a few steps, and the median seconds of
 * each phase of a step from its metrics.jsonl (`rollout_s`: sampling from every source and scoring; `prepare_s`: the
 * old-policy and reference forwards and the advantages; `weighters_s`: the token weighters; `update_s`: the PPO
 * updates, forward + backward + Adam over every micro-batch; `eval_s`: one held-out greedy evaluation;
 * `step_s`: the whole step without evaluation).
 *
 * The run is a child process (`mmrl train`, the same code path as a user's run), so the numbers include everything
 * a step does. The first step is a warm-up (wasm kernels compile, the KV-cache shapes are new) and is left out.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The configs profiled: GRPO and TGRL (student + in-process expert) from the shipped student, and from the small
 * student of the calibrated count regime (the configs behind examples/ablations/regime-count-small.yaml).
 */
export const RL_STEP_CONFIGS = {
  'rl-grpo-student': 'examples/configs/grpo.yaml',
  'rl-tgrl-student': 'examples/configs/tgrl.yaml',
  'rl-grpo-small': 'examples/configs/grpo-small.yaml',
  'rl-tgrl-small': 'examples/configs/tgrl-small.yaml',
  'rl-grpo-small-recompute': 'examples/configs/grpo-small.yaml',
  'rl-grpo-small-rollout': 'examples/configs/grpo-small.yaml',
  'rl-tgrl-small-recompute': 'examples/configs/tgrl-small.yaml',
  'rl-tgrl-small-rollout': 'examples/configs/tgrl-small.yaml',
} as const;
export type RlStepName = keyof typeof RL_STEP_CONFIGS;

/**
 * `trainer.oldLogprobs` forced by a profile (the `-recompute` / `-rollout` pairs: the old-policy forward over every
 * row, or the sampler's logprobs for on-policy rows), whatever the config says; the others keep the config's.
 */
export const RL_STEP_OLD_LOGPROBS: Partial<Record<RlStepName, 'recompute' | 'rollout'>> = {
  'rl-grpo-small-recompute': 'recompute',
  'rl-grpo-small-rollout': 'rollout',
  'rl-tgrl-small-recompute': 'recompute',
  'rl-tgrl-small-rollout': 'rollout',
};

/** The phases reported, as metrics.jsonl keys. */
export const RL_PHASES = ['rollout_s', 'prepare_s', 'weighters_s', 'update_s', 'eval_s', 'step_s'] as const;

export interface RlStepResult {
  config: string;
  /** Timed steps (after the warm-up step). */
  steps: number;
  /** Trajectories per step and mean response tokens. */
  trajectories: number;
  responseTokens: number;
  /** Median seconds of each phase over the timed steps. */
  phases: Record<(typeof RL_PHASES)[number], number>;
  /** Eval prompts of each evaluation. */
  evalPrompts: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/**
 * Runs `steps + 1` RL steps of `name`'s config (held-out evaluation after every step on `evalPrompts` prompts) and
 * returns the phase medians of the last `steps`.
 * @throws Error with the run's stderr when `mmrl train` fails.
 */
export function benchRlStep(name: RlStepName, opts: { steps: number; threads: number; backend: string; evalPrompts?: number }): RlStepResult {
  const config = join(ROOT, RL_STEP_CONFIGS[name]);
  const doc = parseDocument(readFileSync(config, 'utf8'));
  const evalPrompts = opts.evalPrompts ?? 100;
  doc.setIn(['trainer', 'steps'], opts.steps + 2);
  doc.setIn(['trainer', 'evalEvery'], 1);
  doc.setIn(['eval', 'prompts'], evalPrompts);
  const oldLogprobs = RL_STEP_OLD_LOGPROBS[name];
  if (oldLogprobs) doc.setIn(['trainer', 'oldLogprobs'], oldLogprobs);
  doc.delete('$schema');
  // Relative paths (checkpoints) resolve against the config file's directory: write the copy beside it.
  const dir = mkdtempSync(join(tmpdir(), 'mmrl-rl-bench-'));
  const copy = join(dirname(config), `.bench-${name}-${process.pid}.yaml`);
  writeFileSync(copy, doc.toString());
  try {
    const run = spawnSync(
      process.execPath,
      [
        '--conditions=@mmrl/source',
        '--import',
        'tsx',
        join(ROOT, 'packages/cli/src/bin.ts'),
        'train',
        copy,
        '--quiet',
        '--out',
        dir,
        '--name',
        'run',
        '--threads',
        String(opts.threads),
        '--backend',
        opts.backend,
      ],
      { encoding: 'utf8', env: { ...process.env, TSX_TSCONFIG_PATH: join(ROOT, 'tsconfig.base.json') } },
    );
    if (run.status !== 0) throw new Error(`mmrl train ${RL_STEP_CONFIGS[name]} failed (${run.status}):\n${run.stderr}`);
    const rows = readFileSync(join(dir, 'run', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number | string>)
      .filter((r) => r['phase'] === 'rl')
      .slice(1, 1 + opts.steps);
    const col = (k: string) => rows.map((r) => r[k]).filter((v): v is number => typeof v === 'number');
    return {
      config: RL_STEP_CONFIGS[name],
      steps: rows.length,
      trajectories: median(col('trajectories')),
      responseTokens: median(col('response_length_mean')),
      phases: Object.fromEntries(RL_PHASES.map((p) => [p, median(col(p))])) as RlStepResult['phases'],
      evalPrompts,
    };
  } finally {
    rmSync(copy, { force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}
