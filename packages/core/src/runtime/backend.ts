import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { patchWasmBatchMatMul } from './kernels.js';

export const BACKENDS = ['auto', 'wasm', 'cpu', 'webgpu', 'tensorflow'] as const;
export type BackendName = (typeof BACKENDS)[number];

const require = createRequire(import.meta.url);

/** True when a module can be resolved from @mmrl/core (used for optional peer dependencies). */
function installed(specifier: string): boolean {
  try {
    require.resolve(specifier);
    return true;
  } catch {
    return false;
  }
}

async function prepare(name: Exclude<BackendName, 'auto'>): Promise<string> {
  switch (name) {
    case 'wasm':
      await import('@tensorflow/tfjs-backend-wasm');
      return 'wasm';
    case 'cpu':
      return 'cpu';
    case 'webgpu': {
      // The WebGPU globals must exist before the backend module is evaluated (GPU.md).
      let dawn: { create: (o: string[]) => unknown; globals: object };
      try {
        dawn = (await import('webgpu' as string)) as typeof dawn;
      } catch (e) {
        throw new Error(`runtime.backend "webgpu" needs the package "webgpu" (Dawn): ${(e as Error).message}`);
      }
      Object.assign(globalThis, dawn.globals);
      (globalThis as { navigator?: unknown }).navigator = { gpu: dawn.create([]) };
      try {
        await import('@tensorflow/tfjs-backend-webgpu' as string);
      } catch (e) {
        throw new Error(`runtime.backend "webgpu" needs "@tensorflow/tfjs-backend-webgpu": ${(e as Error).message}`);
      }
      return 'webgpu';
    }
    case 'tensorflow': {
      for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
        if (installed(pkg)) {
          await import(pkg);
          return 'tensorflow';
        }
      }
      throw new Error('runtime.backend "tensorflow" needs @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node installed');
    }
  }
}

export interface BackendOptions {
  /**
   * Apply mmrl's kernel fixes (runtime/kernels.ts). Default true; false measures stock tfjs (benchmarks).
   */
  kernelFixes?: boolean;
}

/**
 * Selects and verifies the tfjs backend. `auto` tries tensorflow (when installed), then wasm, then cpu.
 * Kernel fixes (runtime/kernels.ts) are applied for wasm.
 * @returns the name of the active backend.
 * @throws Error when the requested backend cannot be set up or tfjs silently fell back to another one.
 */
export async function initBackend(requested: BackendName, options: BackendOptions = {}): Promise<string> {
  const order: Exclude<BackendName, 'auto'>[] =
    requested === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [requested];
  const failures: string[] = [];
  for (const name of order) {
    if (requested === 'auto' && name === 'tensorflow' && !installed('@tensorflow/tfjs-node') && !installed('@tensorflow/tfjs-node-gpu')) {
      continue;
    }
    try {
      const backendName = await prepare(name);
      const ok = await tf.setBackend(backendName);
      await tf.ready();
      const active = tf.getBackend();
      if (!ok || active !== backendName) {
        throw new Error(`tfjs fell back to "${active}" instead of "${backendName}"`);
      }
      if (active === 'wasm' && options.kernelFixes !== false) patchWasmBatchMatMul();
      return active;
    } catch (e) {
      failures.push(`${name}: ${(e as Error).message}`);
    }
  }
  throw new Error(`Could not initialise runtime.backend "${requested}": ${failures.join('; ')}`);
}
