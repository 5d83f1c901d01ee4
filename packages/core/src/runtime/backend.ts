import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { registerFusedAdamWebGpu } from './fused-adam.js';
import { registerFusedAttentionWebGpu } from './fused-attention.js';
import { registerFusedDecodeAttentionWebGpu } from './fused-decode-attention.js';
import { registerFusedLayerNormWebGpu } from './fused-layer-norm.js';
import { patchWasmBatchMatMul, patchWasmIdentity } from './kernels.js';
import { initWasm } from './wasm-threads.js';

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

/** Loads a module by specifier (injectable for tests). */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

/** Literal specifiers, so that bundlers (npm run bundle) include the webgpu backend and leave `webgpu` external. */
const importWebGpuModule: ModuleImporter = (specifier) => {
  if (specifier === 'webgpu') return import('webgpu' as string);
  if (specifier === '@tensorflow/tfjs-backend-webgpu') return import('@tensorflow/tfjs-backend-webgpu' as string);
  return import(specifier);
};

/**
 * Prepares tfjs's WebGPU backend on Dawn (GPU.md "What works"): imports the npm package `webgpu`, installs its
 * globals and `navigator.gpu` on `globalThis`, and only then evaluates `@tensorflow/tfjs-backend-webgpu`, which
 * registers the backend only if `navigator.gpu` exists when it loads. Does not select the backend.
 * @param importer how modules are loaded (default: dynamic `import`).
 * @param adapterToggles Dawn toggles for `create` (e.g. `['enable-dawn-features=allow_unsafe_apis']`).
 * @throws Error naming the missing package when `webgpu` or `@tensorflow/tfjs-backend-webgpu` cannot be loaded, or
 *   saying that Dawn found no adapter.
 */
export async function setUpWebGpu(
  importer: ModuleImporter = importWebGpuModule,
  adapterToggles: string[] = [],
): Promise<void> {
  let dawn: { create: (toggles: string[]) => unknown; globals: object };
  try {
    dawn = (await importer('webgpu')) as typeof dawn;
  } catch (e) {
    throw new Error(`runtime.backend "webgpu" needs the package "webgpu" (Dawn): ${(e as Error).message}`);
  }
  if (typeof dawn?.create !== 'function' || typeof dawn.globals !== 'object') {
    throw new Error('runtime.backend "webgpu": the package "webgpu" does not export create() and globals');
  }
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create(adapterToggles) as { requestAdapter?: () => Promise<unknown> };
  // tfjs only logs a failed initialisation and falls back to cpu: say why here instead.
  if (typeof gpu?.requestAdapter !== 'function' || (await gpu.requestAdapter()) == null) {
    throw new Error(
      'runtime.backend "webgpu": Dawn found no GPU adapter (no Vulkan driver for a GPU; on a machine without one, ' +
        "Mesa's lavapipe provides a CPU adapter: apt-get install mesa-vulkan-drivers)",
    );
  }
  (globalThis as { navigator?: unknown }).navigator = { gpu };
  try {
    await importer('@tensorflow/tfjs-backend-webgpu');
  } catch (e) {
    throw new Error(`runtime.backend "webgpu" needs "@tensorflow/tfjs-backend-webgpu": ${(e as Error).message}`);
  }
}

/**
 * The one WebGPU set-up of this process. A second `create()` would replace `navigator.gpu`, and once the first Dawn
 * instance is garbage-collected, the device the registered backend holds goes with it: seen as aborts and
 * segmentation faults in a process that selected the webgpu backend twice.
 */
let webGpuSetUp: Promise<void> | null = null;

async function prepare(name: Exclude<BackendName, 'auto'>): Promise<string> {
  switch (name) {
    case 'wasm':
      await import('@tensorflow/tfjs-backend-wasm');
      return 'wasm';
    case 'cpu':
      return 'cpu';
    case 'webgpu':
      webGpuSetUp ??= setUpWebGpu().catch((e: unknown) => {
        webGpuSetUp = null;
        throw e;
      });
      await webGpuSetUp;
      return 'webgpu';
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
  /**
   * Threads of the wasm backend (runtime/wasm-threads.ts): 1 (default) is tfjs's single-threaded SIMD build, 2…8 its
   * threaded build. The first wasm initialisation of a process fixes the count. Other backends ignore it.
   */
  threads?: number;
}

/**
 * Selects and verifies the tfjs backend. `auto` tries tensorflow (when installed), then wasm, then cpu.
 * wasm runs `options.threads` threads (runtime/wasm-threads.ts).
 * Kernel fixes are applied unless `kernelFixes: false`: the transposed-matMul and by-reference Identity fixes for wasm (runtime/kernels.ts) and
 * the fused Adam, layer-norm, attention and decoding-attention kernels for webgpu (runtime/fused-adam.ts,
 * runtime/fused-layer-norm.ts, runtime/fused-attention.ts, runtime/fused-decode-attention.ts).
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
      const select = async () => {
        const ok = await tf.setBackend(backendName);
        await tf.ready();
        return ok;
      };
      const ok = backendName === 'wasm' ? (await initWasm(options.threads ?? 1, select)) > 0 : await select();
      const active = tf.getBackend();
      if (!ok || active !== backendName) {
        throw new Error(`tfjs fell back to "${active}" instead of "${backendName}"`);
      }
      if (active === 'wasm' && options.kernelFixes !== false) {
        patchWasmBatchMatMul();
        patchWasmIdentity();
      }
      if (active === 'webgpu' && options.kernelFixes !== false) {
        registerFusedAdamWebGpu();
        registerFusedLayerNormWebGpu();
        registerFusedAttentionWebGpu();
        registerFusedDecodeAttentionWebGpu();
      }
      return active;
    } catch (e) {
      failures.push(`${name}: ${(e as Error).message}`);
    }
  }
  throw new Error(`Could not initialise runtime.backend "${requested}": ${failures.join('; ')}`);
}
