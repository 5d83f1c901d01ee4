import { checkRequirements, loadConfigFile } from '@mmrl/core';
import { createRegistry, type PluginOptions } from '../registry.js';

/** `mmrl validate <config>`: schema, strategy names and `requires`, without building anything. */
export async function runValidate(configPath: string, opts: PluginOptions = {}): Promise<void> {
  const registry = await createRegistry(opts, configPath);
  const { config, file } = await loadConfigFile(registry, configPath);
  checkRequirements(registry, config);
  console.log(`${file}: valid`);
}
