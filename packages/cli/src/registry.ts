import { StrategyRegistry } from '@mmrl/core';
import builtins from '@mmrl/plugins';
import { cliPluginRequests, configPluginRequests, loadPlugins } from './load-plugins.js';

/** Option values of a command that accepts `--plugin <specifier>` (repeatable). */
export interface PluginOptions {
  plugin?: string[];
}

/** Commander collector for a repeatable option. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/**
 * The registry of a CLI invocation: the built-in plugin, then the config's `plugins` (when a config is given; read
 * before the config is validated, since its strategies are part of the schema), then the `--plugin` modules.
 */
export async function createRegistry(opts: PluginOptions = {}, configPath?: string): Promise<StrategyRegistry> {
  const registry = new StrategyRegistry().use(builtins);
  const requests = [...(configPath !== undefined ? await configPluginRequests(configPath) : []), ...cliPluginRequests(opts.plugin)];
  return loadPlugins(registry, requests);
}
