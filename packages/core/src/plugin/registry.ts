import { Ajv } from 'ajv';
import type { MmrlPlugin, RegisteredStrategy, StrategyKind } from './types.js';
import { STRATEGY_KINDS } from './types.js';
import { assertApiVersion } from './api-version.js';
import { closest } from '../util/suggest.js';

/**
 * The strategy registry: plugins are added explicitly with {@link StrategyRegistry.use}; nothing is registered at
 * import time. Ids are `name` for the built-in (empty) namespace and `namespace/name` otherwise.
 */
export class StrategyRegistry {
  private readonly byKind = new Map<StrategyKind, Map<string, RegisteredStrategy>>();
  private readonly plugins: MmrlPlugin[] = [];
  private readonly schemaChecker = new Ajv({ strict: true, allErrors: true });

  constructor() {
    for (const kind of STRATEGY_KINDS) this.byKind.set(kind, new Map());
  }

  /**
   * Registers every strategy of a plugin.
   * @throws Error on an apiVersion mismatch, an invalid options schema (naming the strategy), or a duplicate id
   *   (naming both owners). Nothing of the plugin is registered when any check fails.
   */
  use(plugin: MmrlPlugin): this {
    if (!plugin || typeof plugin !== 'object' || !plugin.meta || !Array.isArray(plugin.strategies)) {
      throw new Error('Not an mmrl plugin: expected an object { meta, strategies: [...] }');
    }
    assertApiVersion(plugin.meta);
    const staged: RegisteredStrategy[] = [];
    for (const definition of plugin.strategies) {
      const id = plugin.meta.namespace ? `${plugin.meta.namespace}/${definition.name}` : definition.name;
      const label = `Plugin "${plugin.meta.name}" strategy "${definition.kind}/${id}"`;
      if (!STRATEGY_KINDS.includes(definition.kind)) {
        throw new Error(`${label}: unknown kind "${definition.kind}" (kinds: ${STRATEGY_KINDS.join(', ')})`);
      }
      if (!/^[a-z0-9][a-z0-9-]*$/.test(definition.name)) {
        throw new Error(`${label}: name must be kebab-case ([a-z0-9-])`);
      }
      const schema = definition.optionsSchema as Record<string, unknown>;
      if (!schema || schema['type'] !== 'object' || schema['additionalProperties'] !== false) {
        throw new Error(`${label}: options schema invalid: must be an object schema with additionalProperties: false`);
      }
      try {
        this.schemaChecker.compile(schema);
      } catch (e) {
        throw new Error(`${label}: options schema invalid: ${(e as Error).message}`);
      }
      const existing = this.byKind.get(definition.kind)!.get(id) ?? staged.find((s) => s.id === id && s.definition.kind === definition.kind);
      if (existing) {
        throw new Error(
          `Duplicate strategy id "${definition.kind}/${id}": registered by plugin "${existing.owner.name}" and again by plugin "${plugin.meta.name}"`,
        );
      }
      staged.push({ id, owner: plugin.meta, definition });
    }
    for (const s of staged) this.byKind.get(s.definition.kind)!.set(s.id, s);
    this.plugins.push(plugin);
    return this;
  }

  /** @throws Error naming the closest registered id when `id` is unknown for `kind`. */
  get(kind: StrategyKind, id: string): RegisteredStrategy {
    const found = this.byKind.get(kind)?.get(id);
    if (!found) {
      const names = this.names(kind);
      const hint = closest(id, names);
      throw new Error(
        `Unknown ${kind} "${id}"${hint ? `; did you mean "${hint}"?` : ''} (registered: ${names.join(', ') || 'none'})`,
      );
    }
    return found;
  }

  has(kind: StrategyKind, id: string): boolean {
    return this.byKind.get(kind)?.has(id) ?? false;
  }

  /** Registered strategies of one kind, in registration order. */
  list(kind: StrategyKind): RegisteredStrategy[] {
    return [...this.byKind.get(kind)!.values()];
  }

  names(kind: StrategyKind): string[] {
    return [...this.byKind.get(kind)!.keys()];
  }

  listPlugins(): readonly MmrlPlugin[] {
    return this.plugins;
  }
}
