import { StrategyRegistry } from '@mmrl/core';
import builtins from '@mmrl/plugins';

/** The registry of a CLI invocation: the built-in plugin. */
export function createRegistry(): StrategyRegistry {
  return new StrategyRegistry().use(builtins);
}
