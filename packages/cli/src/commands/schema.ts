import { resolve } from 'node:path';
import { composeConfigSchema, writeFileAtomic, PLUGIN_API_VERSION } from '@mmrl/core';
import { createRegistry, type PluginOptions } from '../registry.js';

/** `$id` of the composed config schema. */
export const CONFIG_SCHEMA_ID = 'urn:mmrl:config';

/**
 * `mmrl schema [--out file] [--plugin …]`: the config JSON schema composed from the built-in strategies and the given
 * plugins, for a config's `"$schema"` (editor completion). To stdout, or written atomically to `--out`.
 */
export async function runSchema(opts: PluginOptions & { out?: string }): Promise<void> {
  const registry = await createRegistry(opts);
  const plugins = registry.listPlugins().map((p) => `${p.meta.name}@${p.meta.version}`);
  const schema = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: CONFIG_SCHEMA_ID,
    title: 'mmrl config',
    description: `mmrl run config (plugin API ${PLUGIN_API_VERSION}); strategies from ${plugins.join(', ')}.`,
    ...composeConfigSchema(registry),
  };
  const text = `${JSON.stringify(schema, null, 2)}\n`;
  if (opts.out === undefined) {
    process.stdout.write(text);
    return;
  }
  const file = resolve(opts.out);
  await writeFileAtomic(file, text);
  console.log(`mmrl: schema written to ${file}`);
}
