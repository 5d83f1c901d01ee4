import { STRATEGY_KINDS, type StrategyKind } from '@mmrl/core';
import { createRegistry, type PluginOptions } from '../registry.js';

/** `mmrl plugins [--plugin …]`: every registered strategy by kind, with its options (schema with `--json`). */
export async function runPlugins(opts: PluginOptions & { json?: boolean; kind?: string }): Promise<void> {
  const registry = await createRegistry(opts);
  if (opts.kind !== undefined && !STRATEGY_KINDS.includes(opts.kind as StrategyKind)) {
    throw new Error(`--kind must be one of ${STRATEGY_KINDS.join(', ')}, got "${opts.kind}"`);
  }
  const kinds = opts.kind ? [opts.kind as StrategyKind] : [...STRATEGY_KINDS];
  const listing = kinds.map((kind) => ({
    kind,
    strategies: registry.list(kind).map((s) => ({
      id: s.id,
      plugin: s.owner.name,
      summary: s.definition.docs.summary,
      paper: s.definition.docs.paper ?? null,
      equations: s.definition.docs.equations ?? null,
      requires: s.definition.requires ?? [],
      provides: s.definition.provides ?? [],
      optionsSchema: s.definition.optionsSchema,
    })),
  }));
  if (opts.json) {
    console.log(JSON.stringify({ plugins: registry.listPlugins().map((p) => p.meta), kinds: listing }, null, 2));
    return;
  }
  for (const { kind, strategies } of listing) {
    console.log(`${kind}:`);
    if (strategies.length === 0) console.log('  (none)');
    for (const s of strategies) {
      console.log(`  ${s.id}  — ${s.summary}${s.paper ? ` [${s.paper}]` : ''}`);
      const props = (s.optionsSchema as { properties?: Record<string, { default?: unknown; description?: string }> }).properties ?? {};
      for (const [key, p] of Object.entries(props)) {
        console.log(`      ${key} = ${JSON.stringify(p.default)}${p.description ? `  ${p.description}` : ''}`);
      }
    }
  }
}
