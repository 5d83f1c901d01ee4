import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker as NodeWorker, type WorkerOptions } from 'node:worker_threads';

/**
 * Multi-threaded wasm in Node.
 *
 * tfjs-backend-wasm ships a threaded SIMD build (XNNPACK on a pthread pool) but never selects it in Node
 * (`WASM_HAS_MULTITHREAD_SUPPORT` is false there, tfjs issue #3830): its pthread workers are created from a blob URL,
 * which Node's `worker_threads.Worker` refuses, and the worker then loads the module factory from another blob URL.
 * Emscripten's code itself supports Node (it posts to and from `worker_threads`). This module bridges the two blob URLs:
 *
 * - while the backend initialises, `globalThis.Worker` is a `PthreadWorker` (`pthreadWorkerClass`): a `worker_threads.Worker` that
 *   evaluates tfjs's own worker script (`wasmWorkerContents`) and hands it the factory source through `workerData`;
 * - the `load` message's blob (the factory source) is replaced by a marker that the worker's `importScripts` resolves
 *   to that source;
 * - pthread workers never keep the process alive (`ref()` is a no-op): XNNPACK's pool threads idle forever, and a
 *   finished `mmrl train` must exit.
 *
 * tfjs caps its pool at half the logical cores (it assumes two hyper-threads per core) and at 8. The requested count
 * is honoured up to 8 by reporting twice that many logical cores to the module while it initialises.
 *
 * Determinism: XNNPACK splits a product's output tiles between threads; each output element is still reduced in the
 * same order by one thread, so results are bit-identical for any thread count (checked by
 * packages/core/test/runtime/wasm-threads.test.ts).
 */

/** tfjs's pthread pool size (PTHREAD_POOL_SIZE in tfjs-backend-wasm's build) and thread cap. */
export const MAX_WASM_THREADS = 8;

/** What `load` carries in place of the factory's blob URL; the worker's `importScripts` evaluates the source for it. */
const FACTORY_MARKER = 'mmrl:tfjs-backend-wasm-threaded-simd.js';

/** Evaluated in each pthread worker after tfjs's worker script: resolves the marker without a file or a blob URL. */
const WORKER_SUFFIX = `
;(() => {
  const { workerData } = require('worker_threads');
  const load = global.importScripts;
  global.importScripts = (f) => f === ${JSON.stringify(FACTORY_MARKER)} ? (0, eval)(workerData.factorySource) : load(f);
})();
`;

let configuredThreads: number | null = null;

/** Threads of this process's wasm backend, or null before {@link initWasm} initialised it. */
export function wasmThreads(): number | null {
  return configuredThreads;
}

/**
 * The default thread count: the machine's available parallelism, at most {@link MAX_WASM_THREADS}.
 */
export function defaultWasmThreads(): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(MAX_WASM_THREADS, cores));
}

/** `runtime.threads` as a count: `auto` is {@link defaultWasmThreads}. */
export function resolveWasmThreads(setting: 'auto' | number): number {
  return setting === 'auto' ? defaultWasmThreads() : setting;
}

interface ThreadedSources {
  /** tfjs's pthread worker script. */
  workerScript: string;
  /** The factory file, which declares `var WasmBackendModuleThreadedSimd`: what the worker's `importScripts` evaluates. */
  factorySource: string;
}

/** The threaded build's Emscripten factory, as published (the worker evaluates it: it must be self-contained). */
const FACTORY_FILE = 'tfjs-backend-wasm-threaded-simd.js';

/**
 * The factory's source text: from node_modules, or beside the single-file bundle (`npm run bundle` copies it there,
 * next to the `.wasm` files). Not `factory.toString()`, which tfjs uses: a bundler rewrites the factory's `require`
 * calls into helpers of the bundle that do not exist in the worker.
 */
function factorySourceText(): string {
  const candidates: string[] = [];
  try {
    candidates.push(createRequire(import.meta.url).resolve(`@tensorflow/tfjs-backend-wasm/wasm-out/${FACTORY_FILE}`));
  } catch {
    // not installed next to this module: the bundle
  }
  candidates.push(join(dirname(fileURLToPath(import.meta.url)), FACTORY_FILE));
  for (const file of candidates) {
    if (existsSync(file)) return readFileSync(file, 'utf8');
  }
  throw new Error(
    `runtime.threads: the threaded wasm build's ${FACTORY_FILE} was not found (looked at ${candidates.join(', ')}); runtime.threads: 1 runs the single-threaded build`,
  );
}

async function threadedSources(): Promise<ThreadedSources> {
  // A literal specifier so that the bundler (npm run bundle) includes it: a string constant, intact in a bundle.
  const worker = (await import('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js' as string)) as {
    wasmWorkerContents?: string;
    default?: { wasmWorkerContents?: string };
  };
  const workerScript = worker.wasmWorkerContents ?? worker.default?.wasmWorkerContents;
  if (typeof workerScript !== 'string') {
    throw new Error('runtime.threads: this @tensorflow/tfjs-backend-wasm has no threaded SIMD worker (wasm-out/*threaded-simd.worker.js)');
  }
  // tfjs escapes the newlines of string literals the same way before it makes its blob.
  return { workerScript: workerScript.replace(/\n/g, '\\n'), factorySource: factorySourceText() };
}

/** Builds the Worker class that Emscripten's pthread pool instantiates in place of the browser's. */
function pthreadWorkerClass(sources: ThreadedSources) {
  return class PthreadWorker extends NodeWorker {
    constructor(_url: string | URL, options: WorkerOptions = {}) {
      super(sources.workerScript + WORKER_SUFFIX, { ...options, eval: true, workerData: { factorySource: sources.factorySource } });
      this.unref();
    }

    /** Pool threads never end: they must not keep the process alive. */
    override ref(): void {
      this.unref();
    }

    override postMessage(message: unknown, transferList?: Parameters<NodeWorker['postMessage']>[1]): void {
      const m = message as { cmd?: string; urlOrBlob?: unknown } | null;
      if (m && m.cmd === 'load' && typeof m.urlOrBlob !== 'string') message = { ...m, urlOrBlob: FACTORY_MARKER };
      super.postMessage(message, transferList);
    }
  };
}

/**
 * Selects tfjs's wasm backend with `threads` threads: the single-threaded SIMD build for 1, the threaded SIMD build
 * (XNNPACK's pthread pool) for 2…{@link MAX_WASM_THREADS}. The first initialisation in a process fixes the count; a
 * later call selects the same backend again and returns the count it runs.
 * @param threads requested threads, 1…{@link MAX_WASM_THREADS}.
 * @param setBackend selects the backend (`tf.setBackend('wasm')`, then `tf.ready()`); run while the bridge is in place.
 * @returns the number of threads the backend runs.
 * @throws Error when `threads` is out of range or the threaded build does not start.
 */
export async function initWasm(threads: number, setBackend: () => Promise<boolean>): Promise<number> {
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_WASM_THREADS) {
    throw new Error(`runtime.threads: the wasm backend takes 1 to ${MAX_WASM_THREADS} threads, got ${threads}`);
  }
  const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as {
    setThreadsCount: (n: number) => void;
    getThreadsCount: () => number;
  };
  if (configuredThreads !== null || threads === 1) {
    const ok = await setBackend();
    if (!ok || tf.getBackend() !== 'wasm') throw new Error(`tfjs fell back to "${tf.getBackend()}" instead of "wasm"`);
    configuredThreads ??= wasm.getThreadsCount();
    return configuredThreads;
  }
  const sources = await threadedSources();
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);
  const g = globalThis as Record<string, unknown>;
  const previousWorker = Object.getOwnPropertyDescriptor(g, 'Worker');
  const PthreadWorker = pthreadWorkerClass(sources);
  // Emscripten assigns worker_threads' Worker to the global when its factory runs: keep ours in place until it is done.
  Object.defineProperty(g, 'Worker', { configurable: true, get: () => PthreadWorker, set: () => {} });
  // tfjs's C++ caps the pool at emscripten_num_logical_cores() / 2, read once when the module starts.
  const cpus = os.cpus;
  const logical = cpus();
  os.cpus = () => Array.from({ length: 2 * threads }, (_, i) => logical[i % Math.max(1, logical.length)]!);
  try {
    const ok = await setBackend();
    if (!ok || tf.getBackend() !== 'wasm') throw new Error(`tfjs fell back to "${tf.getBackend()}" instead of "wasm"`);
  } catch (e) {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    throw new Error(
      `runtime.threads ${threads}: the threaded wasm build did not start (runtime.threads: 1 runs the single-threaded one): ${(e as Error).message}`,
    );
  } finally {
    os.cpus = cpus;
    if (previousWorker) Object.defineProperty(g, 'Worker', previousWorker);
    else delete g.Worker;
  }
  configuredThreads = wasm.getThreadsCount();
  return configuredThreads;
}
