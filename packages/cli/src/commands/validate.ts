import { checkRequirements, loadConfigFile } from '@mmrl/core';
import { createRegistry } from '../registry.js';

/** `mmrl validate <config>`: schema, strategy names and `requires`, without building anything. */
export async function runValidate(configPath: string): Promise<void> {
  const registry = createRegistry();
  const { config, file } = await loadConfigFile(registry, configPath);
  checkRequirements(registry, config);
  console.log(`${file}: valid`);
}
