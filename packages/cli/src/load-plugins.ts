import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseConfigText, type MmrlPlugin, type StrategyRegistry } from '@mmrl/core';

/** A plugin to load: the specifier as written, and the directory a relative path in it resolves against. */
export interface PluginRequest {
  /**
   * An npm package name (`mmrl-plugin-acme`, `@acme/mmrl-plugin`) or a path: a module (`./plugins/acme.mjs`) or a
   * package directory (`../mmrl-plugin-acme`, loaded through its package.json like an import of its name).
   */
  specifier: string;
  /** The config file's directory for a config entry, the working directory for `--plugin`. */
  baseDir: string;
}

/** An error about one plugin, naming its specifier: `plugin "<specifier>": <message>`. */
export class PluginLoadError extends Error {
  constructor(
    readonly specifier: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`plugin "${specifier}": ${message}`, options);
    this.name = 'PluginLoadError';
  }
}

/** A path (relative, absolute or a file: URL) rather than a package name. */
function isPath(specifier: string): boolean {
  return (
    specifier.startsWith('./') ||
    specifier.startsWith('../') ||
    specifier === '.' ||
    specifier === '..' ||
    specifier.startsWith('.\\') ||
    specifier.startsWith('..\\') ||
    specifier.startsWith('file:') ||
    isAbsolute(specifier)
  );
}

/**
 * The URL to import for a specifier: a path resolves against `baseDir` (a package directory to its entry module); a
 * package name resolves from `baseDir` (the project's node_modules) when Node's resolver finds it there, else from the
 * CLI itself (`undefined`: import the bare name).
 */
function resolveSpecifier({ specifier, baseDir }: PluginRequest): string {
  if (specifier.startsWith('file:')) return specifier;
  if (isPath(specifier)) {
    const path = resolve(baseDir, specifier);
    return pathToFileURL(isPackageDir(path) ? packageEntry(path, specifier) : path).href;
  }
  try {
    return pathToFileURL(createRequire(join(baseDir, 'noop.js')).resolve(specifier)).href;
  } catch {
    // Not resolvable with the require conditions from baseDir (absent, or an import-only exports map).
    return specifier;
  }
}

/** A directory with a package.json: a plugin package given by its path (e.g. `../plugin-vppo`). */
function isPackageDir(path: string): boolean {
  return existsSync(join(path, 'package.json')) && statSync(path).isDirectory();
}

/**
 * The entry module of the package in directory `dir`, resolved as an import of the package's own name (its `exports`,
 * with the process's conditions), else its `main`, else `index.js`.
 * @throws PluginLoadError when the package.json cannot be read.
 */
function packageEntry(dir: string, specifier: string): string {
  const manifest = join(dir, 'package.json');
  let pkg: { name?: unknown; main?: unknown };
  try {
    pkg = JSON.parse(readFileSync(manifest, 'utf8')) as typeof pkg;
  } catch (e) {
    throw new PluginLoadError(specifier, `cannot read ${manifest}: ${(e as Error).message}`, { cause: e });
  }
  if (typeof pkg.name === 'string') {
    try {
      // Self-reference: inside the package, its own name resolves through its `exports`.
      return createRequire(manifest).resolve(pkg.name);
    } catch {
      // No `exports`, or none for require-style resolution: fall back to `main`.
    }
  }
  return resolve(dir, typeof pkg.main === 'string' ? pkg.main : 'index.js');
}

const isString = (v: unknown): v is string => typeof v === 'string';

/** Whether a module's default export has the shape of an mmrl plugin (`{ meta, strategies: [] }`). */
function isPluginShaped(value: unknown): value is MmrlPlugin {
  if (!value || typeof value !== 'object') return false;
  const { meta, strategies } = value as { meta?: unknown; strategies?: unknown };
  if (!meta || typeof meta !== 'object' || !Array.isArray(strategies)) return false;
  const m = meta as Record<string, unknown>;
  return isString(m['name']) && isString(m['version']) && isString(m['namespace']) && isString(m['apiVersion']);
}

/**
 * Imports one plugin module and checks that its default export is an mmrl plugin with a namespace (third-party
 * strategy ids are `namespace/name`).
 * @throws PluginLoadError when the module cannot be loaded or is not a plugin.
 */
export async function importPlugin(request: PluginRequest): Promise<{ plugin: MmrlPlugin; url: string }> {
  const url = resolveSpecifier(request);
  let mod: { default?: unknown };
  try {
    mod = (await import(url)) as { default?: unknown };
  } catch (e) {
    // Node's "… imported from <this file>" names the loader, not anything the user wrote.
    const cause = (e instanceof Error ? e.message : String(e)).split('\n')[0]!.replace(/ imported from \S+$/, '');
    throw new PluginLoadError(request.specifier, `cannot load: ${cause}`, { cause: e });
  }
  const plugin = mod.default;
  if (!isPluginShaped(plugin)) {
    throw new PluginLoadError(request.specifier, 'not an mmrl plugin (expected a default export { meta, strategies })');
  }
  if (!/^[a-z0-9][a-z0-9-]*$/.test(plugin.meta.namespace)) {
    throw new PluginLoadError(
      request.specifier,
      `meta.namespace must be a non-empty kebab-case name ([a-z0-9-]), got "${plugin.meta.namespace}" (third-party strategy ids are namespace/name)`,
    );
  }
  return { plugin, url };
}

/**
 * Loads the plugins in order and registers each with `registry.use()` (API version, options schemas, duplicate ids).
 * A module named twice (the same resolved file or package) is registered once.
 * @throws PluginLoadError naming the specifier of the first plugin that fails; the registry's message follows it.
 */
export async function loadPlugins(registry: StrategyRegistry, requests: readonly PluginRequest[]): Promise<StrategyRegistry> {
  const loaded = new Set<string>();
  for (const request of requests) {
    const { plugin, url } = await importPlugin(request);
    if (loaded.has(url)) continue;
    try {
      registry.use(plugin);
    } catch (e) {
      throw new PluginLoadError(request.specifier, e instanceof Error ? e.message : String(e), { cause: e });
    }
    loaded.add(url);
  }
  return registry;
}

/**
 * The `plugins` entries of a config file, read from the parsed (not yet validated) text, as requests relative to the
 * file's directory. A file that cannot be read, or a `plugins` that is not a list, yields none: loading and validating
 * the config reports those.
 * @throws MmrlConfigError on a syntax error.
 */
export async function configPluginRequests(configPath: string): Promise<PluginRequest[]> {
  const file = resolve(configPath);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return [];
  }
  const data = parseConfigText(text, file);
  const plugins = data && typeof data === 'object' ? (data as { plugins?: unknown }).plugins : undefined;
  if (!Array.isArray(plugins)) return [];
  return plugins.filter((p): p is string => isString(p) && p.length > 0).map((specifier) => ({ specifier, baseDir: dirname(file) }));
}

/** `--plugin` specifiers as requests relative to the working directory. */
export function cliPluginRequests(specifiers: readonly string[] | undefined): PluginRequest[] {
  return (specifiers ?? []).map((specifier) => ({ specifier, baseDir: process.cwd() }));
}
