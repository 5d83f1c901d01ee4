import { defineConfig } from 'tsup';

// One ESM bundle with type declarations. Dependencies and peer dependencies (@mmrl/core, @tensorflow/tfjs,
// @sinclair/typebox) stay external: the plugin shares the host's @mmrl/core and tfjs.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
});
