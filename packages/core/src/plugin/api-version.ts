import semver from 'semver';
import type { PluginMeta } from './types.js';

/** Version of the plugin API implemented by this build of @mmrl/core. */
export const PLUGIN_API_VERSION = '1.0.0';

/**
 * @throws Error when `meta.apiVersion` is not a valid semver range or does not include {@link PLUGIN_API_VERSION}.
 */
export function assertApiVersion(meta: PluginMeta): void {
  const range = semver.validRange(meta.apiVersion);
  if (range === null) {
    throw new Error(`Plugin "${meta.name}": apiVersion "${meta.apiVersion}" is not a valid semver range`);
  }
  if (!semver.satisfies(PLUGIN_API_VERSION, range)) {
    throw new Error(
      `Plugin "${meta.name}" needs mmrl plugin API ${meta.apiVersion}, but @mmrl/core implements ${PLUGIN_API_VERSION}`,
    );
  }
}
