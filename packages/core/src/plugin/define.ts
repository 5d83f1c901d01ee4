import type { TSchema } from '@sinclair/typebox';
import type { MmrlPlugin, StrategyDefinition } from './types.js';

/** Identity helper that infers the option type of a strategy from its TypeBox schema. */
export function defineStrategy<S extends TSchema, T>(definition: StrategyDefinition<S, T>): StrategyDefinition<S, T> {
  return definition;
}

/** Identity helper for a plugin object (`{ meta, strategies }`). */
export function definePlugin<P extends MmrlPlugin>(plugin: P): P {
  return plugin;
}
