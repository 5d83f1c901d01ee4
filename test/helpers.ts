import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Runs the mmrl CLI from source (as `npm run mmrl` does) and returns exit code and output. */
export function mmrl(args: string[], cwd = ROOT): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(
    process.execPath,
    ['--conditions=@mmrl/source', '--import', 'tsx', join(ROOT, 'packages/cli/src/bin.ts'), ...args],
    { cwd, encoding: 'utf8', env: { ...process.env, MMRL_DEBUG: '' } },
  );
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * tiny.yaml's settings as a JSON config for a short RL run with plugin weighters (d 16, 1 layer, 2 prompts per step,
 * 2 eval prompts); `plugins` omitted when undefined.
 */
export function tinyPluginConfig(options: {
  plugins?: string[];
  weighters: { name: string; options?: Record<string, unknown> }[];
  seed?: number;
  steps?: number;
  samples?: number;
  objectiveOptions?: Record<string, unknown>;
}): Record<string, unknown> {
  return {
    ...(options.plugins ? { plugins: options.plugins } : {}),
    seed: options.seed ?? 7,
    runtime: { backend: 'wasm' },
    task: { name: 'fashion-shelf', options: { slots: 2 } },
    policy: { name: 'vlm', options: { dModel: 16, layers: 1, heads: 2, ffnDim: 32 } },
    reward: { name: 'boxed-accuracy' },
    trainer: {
      steps: options.steps ?? 2,
      promptsPerStep: 2,
      trainPrompts: 8,
      maxResponseTokens: 12,
      sources: [{ name: 'on-policy', options: { samples: options.samples ?? 2 } }],
      advantage: { name: 'grpo' },
      weighters: options.weighters,
      objective: { name: 'ppo-clip', ...(options.objectiveOptions ? { options: options.objectiveOptions } : {}) },
    },
    eval: { prompts: 2 },
  };
}
