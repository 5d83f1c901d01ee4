#!/usr/bin/env node
/**
 * `npm run bundle [-- --out <dir>]`: the `mmrl` CLI as one ESM file for machines without node_modules (the GPU device
 * machine, ../shared/GPU.md "Recipe"): everything bundled except `webgpu` (Dawn's native module, installed beside it)
 * and the optional tfjs-node backends; a banner defines `require`, `__filename` and `__dirname` (tfjs's node build calls
 * `require('util')`, and the wasm backend finds its `.wasm` files through `__dirname`, copied next to the bundle).
 * Writes `<out>/mmrl.mjs`, `<out>/bench.mjs` (`npm run bench`'s bench/run.mts), `<out>/tfjs-backend-wasm*.wasm` and the
 * threaded build's factory `<out>/tfjs-backend-wasm-threaded-simd.js`
 * (default out: `.gpu`). The packages are bundled from their TypeScript sources (the `@mmrl/source` export
 * condition), so a stale `dist/` cannot slip into a device run.
 *   node .gpu/mmrl.mjs train examples/configs/demo.yaml --backend webgpu
 *   node .gpu/bench.mjs --backend webgpu --only transformer,transformer-25m
 */
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const i = process.argv.indexOf('--out');
const out = resolve(root, i >= 0 ? process.argv[i + 1] : '.gpu');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { mmrl: join(root, 'packages/cli/src/bin.ts'), bench: join(root, 'bench/run.mts') },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir: out,
  outExtension: { '.js': '.mjs' },
  conditions: ['@mmrl/source'],
  external: ['webgpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
  tsconfig: join(root, 'tsconfig.base.json'),
  minify: true,
  // Resolve from the link's location: a package linked in from elsewhere (e.g. the webgpu backend) shares our tfjs-core.
  preserveSymlinks: true,
  logLevel: 'warning',
  banner: {
    js: [
      "import { createRequire as __mmrlRequire } from 'node:module';",
      "import { fileURLToPath as __mmrlPath } from 'node:url';",
      "import { dirname as __mmrlDir } from 'node:path';",
      'const require = __mmrlRequire(import.meta.url);',
      'const __filename = __mmrlPath(import.meta.url);',
      'const __dirname = __mmrlDir(__filename);',
    ].join(' '),
  },
});
const wasmDir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
const wasm = readdirSync(wasmDir).filter((f) => f.endsWith('.wasm'));
for (const f of wasm) copyFileSync(join(wasmDir, f), join(out, f));
// The threaded build's factory, evaluated as-is by its pthread workers (packages/core/src/runtime/wasm-threads.ts).
const threadedFactory = 'tfjs-backend-wasm-threaded-simd.js';
copyFileSync(join(wasmDir, '..', 'wasm-out', threadedFactory), join(out, threadedFactory));
console.log(`bundle: ${join(out, 'mmrl.mjs')}, ${join(out, 'bench.mjs')} (+ ${[...wasm, threadedFactory].join(', ')})`);
