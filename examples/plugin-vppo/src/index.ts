import { definePlugin } from '@mmrl/core';
import { vppoWeighter } from './vppo.js';

export * from './vppo.js';
export * from './perturb.js';

/**
 * `mmrl-plugin-vppo`: registers the token weighter `vppo/vppo`. Load it with `plugins: [mmrl-plugin-vppo]` (installed)
 * or a path to this package directory, then `trainer.weighters: [{ name: vppo/vppo }]`.
 */
export default definePlugin({
  meta: { name: 'mmrl-plugin-vppo', version: '0.1.0', namespace: 'vppo', apiVersion: '^1.0.0' },
  strategies: [vppoWeighter],
});
