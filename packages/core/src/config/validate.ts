import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { StrategyRegistry } from '../plugin/registry.js';
import { closest } from '../util/suggest.js';
import { composeConfigSchema, SLOT_LOCATIONS } from './compose-schema.js';
import type { ResolvedConfig } from './base-schema.js';
import { MmrlConfigError, type ConfigIssue } from './config-error.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const cache = new WeakMap<StrategyRegistry, { validate: ValidateFunction; size: number }>();

function registrySize(registry: StrategyRegistry): number {
  return registry.listPlugins().reduce((n, p) => n + p.strategies.length, 0);
}

/** The compiled validator for a registry (cached until the registry grows). */
export function configValidator(registry: StrategyRegistry): ValidateFunction {
  const size = registrySize(registry);
  const hit = cache.get(registry);
  if (hit && hit.size === size) return hit.validate;
  const ajv = new Ajv({ allErrors: true, strict: true, useDefaults: true, discriminator: true, verbose: true });
  addFormats(ajv);
  const validate = ajv.compile(composeConfigSchema(registry));
  cache.set(registry, { validate, size });
  return validate;
}

function get(obj: unknown, pointer: string): unknown {
  let cur = obj;
  for (const key of pointer.split('/').slice(1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** Names used in slots that the registry does not know, with "did you mean" suggestions. */
function unknownStrategyIssues(registry: StrategyRegistry, config: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const { pointer, kind, list } of SLOT_LOCATIONS) {
    const value = get(config, pointer);
    const slots: [string, unknown][] = list
      ? Array.isArray(value)
        ? value.map((v, i) => [`${pointer}/${i}`, v])
        : []
      : [[pointer, value]];
    for (const [at, slot] of slots) {
      if (!slot || typeof slot !== 'object') continue;
      const name = (slot as { name?: unknown }).name;
      if (typeof name !== 'string' || registry.has(kind, name)) continue;
      const names = registry.names(kind);
      const hint = closest(name, names);
      issues.push({
        pointer: `${at}/name`,
        message: `unknown ${kind} "${name}"${hint ? `; did you mean "${hint}"?` : ''} (registered: ${names.join(', ') || 'none'})`,
      });
    }
  }
  return issues;
}

function describe(error: ErrorObject): ConfigIssue {
  const pointer = error.instancePath;
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(error.params['additionalProperty']);
      const known = Object.keys((error.parentSchema as { properties?: object })?.properties ?? {});
      const hint = closest(key, known);
      return {
        pointer: `${pointer}/${key}`,
        message: `unknown key "${key}"${hint ? `; did you mean "${hint}"?` : ''} (allowed: ${known.join(', ')})`,
      };
    }
    case 'required':
      return { pointer: `${pointer}/${String(error.params['missingProperty'])}`, message: 'is required' };
    case 'type':
      return { pointer, message: `must be ${String(error.params['type'])}` };
    default:
      return { pointer, message: error.message ?? error.keyword };
  }
}

/** Constraints between fields that JSON schema cannot state; checked once the schema holds. */
function crossFieldIssues(config: ResolvedConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const schedule = config.trainer.lrSchedule;
  const warmup = schedule?.warmupSteps ?? 0;
  if (schedule && schedule.name !== 'constant' && config.trainer.steps > 0 && warmup >= config.trainer.steps) {
    issues.push({
      pointer: '/trainer/lrSchedule/warmupSteps',
      message: `${warmup} warm-up steps leave none of trainer.steps = ${config.trainer.steps} for the ${schedule.name} decay`,
    });
  }
  return issues;
}

/**
 * Validates a config against the schema composed from the registry; fills defaults in place.
 * @returns the config, typed.
 * @throws MmrlConfigError listing every issue with its JSON pointer.
 */
export function validateConfig(registry: StrategyRegistry, config: unknown, file?: string): ResolvedConfig {
  const unknown = unknownStrategyIssues(registry, config);
  const validate = configValidator(registry);
  const ok = validate(config);
  const crossField = ok ? crossFieldIssues(config as ResolvedConfig) : [];
  if (ok && unknown.length === 0 && crossField.length === 0) return config as ResolvedConfig;
  const issues = [...unknown, ...crossField];
  const seen = new Set(issues.map((i) => `${i.pointer}|${i.message}`));
  for (const error of validate.errors ?? []) {
    // The discriminator's own complaint about an unknown name is replaced by the "did you mean" issue above.
    if (error.keyword === 'discriminator' && unknown.some((u) => u.pointer.startsWith(error.instancePath))) continue;
    const issue = describe(error);
    const key = `${issue.pointer}|${issue.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      issues.push(issue);
    }
  }
  throw new MmrlConfigError(issues, file);
}
