import type { TestContext } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/runtime/backend.js';
import { countWebGpuDispatches } from '../../src/runtime/webgpu-program.js';

/**
 * Selects the real webgpu backend (Dawn through the npm package `webgpu`; on a machine without a GPU, Mesa's
 * lavapipe Vulkan driver, which .ci/run installs). Without an adapter the test is skipped, unless
 * MMRL_REQUIRE_WEBGPU=1 (set by .ci/run), where it fails instead: CI must not skip the webgpu checks silently.
 * @returns false when the test was skipped.
 */
export async function useWebGpu(t: TestContext): Promise<boolean> {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  try {
    await initBackend('webgpu');
    return true;
  } catch (e) {
    const reason = `no WebGPU adapter here (${(e as Error).message.slice(0, 200)})`;
    if (process.env.MMRL_REQUIRE_WEBGPU === '1') throw new Error(`MMRL_REQUIRE_WEBGPU=1 but ${reason}`);
    t.skip(reason);
    return false;
  }
}

/** {@link countWebGpuDispatches} for a synchronous `fn` on the webgpu backend. */
export async function countDispatches(fn: () => void): Promise<number> {
  const n = await countWebGpuDispatches(fn);
  if (n === null) throw new Error(`countDispatches: the active backend is ${tf.getBackend()}, not webgpu`);
  return n;
}

/** Shader keys of the programs the webgpu backend runs while the synchronous `fn` runs, in order. */
export function programsRun(fn: () => void): string[] {
  const gpu = tf.backend() as unknown as { runWebGPUProgram: (program: { shaderKey: string }, ...rest: unknown[]) => unknown };
  const original = gpu.runWebGPUProgram;
  const keys: string[] = [];
  gpu.runWebGPUProgram = function (this: unknown, program, ...rest) {
    keys.push(program.shaderKey);
    return original.call(this, program, ...rest);
  };
  try {
    fn();
  } finally {
    gpu.runWebGPUProgram = original;
  }
  return keys;
}
