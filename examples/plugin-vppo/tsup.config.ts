import { defineConfig } from 'tsup';

// @mmrl/core, tfjs and TypeBox stay external (peer and regular dependencies): the plugin shares the host's copies.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  tsconfig: 'tsconfig.build.json',
});
