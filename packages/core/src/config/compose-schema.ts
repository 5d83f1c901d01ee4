import { Type, type TSchema } from '@sinclair/typebox';
import type { StrategyRegistry } from '../plugin/registry.js';
import type { StrategyKind } from '../plugin/types.js';
import { baseConfigSchema } from './base-schema.js';

/**
 * JSON schema of one `{ name, options }` slot of `kind`: a `oneOf` over the registered strategies, discriminated by
 * `name` (ajv `discriminator`), each branch carrying the strategy's own options schema with `default: {}` so that
 * option defaults are filled in.
 * @throws Error when no strategy of `kind` is registered.
 */
export function slotSchema(registry: StrategyRegistry, kind: StrategyKind): TSchema {
  const strategies = registry.list(kind);
  if (strategies.length === 0) {
    return Type.Object({ name: Type.String(), options: Type.Optional(Type.Object({})) }, { additionalProperties: false });
  }
  return {
    type: 'object',
    description: `A ${kind}: { name, options }. Registered: ${strategies.map((s) => s.id).join(', ')}.`,
    discriminator: { propertyName: 'name' },
    oneOf: strategies.map((s) => ({
      type: 'object',
      description: s.definition.docs.summary,
      properties: {
        name: { const: s.id },
        options: { ...s.definition.optionsSchema, default: {} },
      },
      required: ['name'],
      additionalProperties: false,
    })),
  } as unknown as TSchema;
}

/** The whole config schema: the base schema with every slot composed from the registry. */
export function composeConfigSchema(registry: StrategyRegistry): TSchema {
  return baseConfigSchema(
    (kind) => slotSchema(registry, kind as StrategyKind),
    (kind) => Type.Array(slotSchema(registry, kind as StrategyKind), { default: [] }),
  );
}

/** Where each slot kind sits in a config (JSON pointers; `*` = every element of a list). */
export const SLOT_LOCATIONS: readonly { pointer: string; kind: StrategyKind; list: boolean }[] = [
  { pointer: '/task', kind: 'task', list: false },
  { pointer: '/policy', kind: 'policy', list: false },
  { pointer: '/reward', kind: 'reward-function', list: false },
  { pointer: '/trainer/sources', kind: 'trajectory-source', list: true },
  { pointer: '/trainer/advantage', kind: 'advantage-estimator', list: false },
  { pointer: '/trainer/weighters', kind: 'token-weighter', list: true },
  { pointer: '/trainer/objective', kind: 'policy-objective', list: false },
];
