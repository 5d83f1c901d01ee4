import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PLUGIN_API_VERSION } from '@mmrl/core';

/** Options of `mmrl init-plugin <name>`. */
export interface InitPluginOptions {
  /** Target directory (default `./<name without scope>`); must not exist or be empty. */
  dir?: string;
  /** Namespace of the strategy ids (default: the name without scope and `mmrl-plugin-` prefix). */
  namespace?: string;
  /** A local @mmrl/core package directory to use as the devDependency (`file:` link) instead of the npm release. */
  core?: string;
}

/** What {@link scaffoldPlugin} wrote. */
export interface ScaffoldResult {
  dir: string;
  namespace: string;
  /** Paths relative to `dir`, sorted. */
  files: string[];
}

const NPM_NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;
const NAMESPACE = /^[a-z0-9][a-z0-9-]*$/;

/** The directory holding the `plugin/` template: `packages/cli/templates`, from `src/commands/` or from `dist/`. */
export function templatesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'templates');
    if (existsSync(join(candidate, 'plugin', 'package.json'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('init-plugin: the plugin template (templates/plugin of @mmrl/cli) was not found');
}

/** `mmrl-plugin-acme` → `acme`, `@acme/mmrl-plugin-vision` → `vision`, `acme-mmrl-plugin` → `acme`. */
export function defaultNamespace(name: string): string {
  const bare = name.replace(/^@[^/]+\//, '');
  return bare
    .replace(/^mmrl-plugin-/, '')
    .replace(/-mmrl-plugin$/, '')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** Replaces every `{{key}}`. @throws Error naming a placeholder without a value (a typo in a template). */
export function fillTemplate(text: string, values: Readonly<Record<string, string>>, file = 'template'): string {
  return text.replace(/\{\{([a-zA-Z]+)\}\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`init-plugin: ${file}: unknown placeholder {{${key}}}`);
    return value;
  });
}

/** Every file under `dir`, as paths relative to it with `/` separators, sorted. */
function listFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => statSync(join(dir, f)).isFile())
    .map((f) => f.split(sep).join('/'))
    .sort();
}

/** The published file name of a template file: npm drops `.gitignore` from packages, so it ships as `gitignore`. */
const targetName = (file: string) => (file === 'gitignore' ? '.gitignore' : file);

/**
 * The placeholder values: package name and namespace, the plugin API range (`^<major>.0.0` of the API this
 * @mmrl/core implements), and the versions of @mmrl/core, tfjs and TypeBox this CLI was built with.
 */
function templateValues(name: string, namespace: string, dir: string, core: string | undefined): Record<string, string> {
  const require = createRequire(import.meta.url);
  const corePkg = require('@mmrl/core/package.json') as { version: string; dependencies: Record<string, string> };
  const coreRange = `^${corePkg.version}`;
  let coreDev = coreRange;
  if (core !== undefined) {
    const coreDir = resolve(core);
    const manifest = join(coreDir, 'package.json');
    const coreName = existsSync(manifest) ? (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name : undefined;
    if (coreName !== '@mmrl/core') {
      throw new Error(`init-plugin: --core ${core}: ${manifest} is not the package.json of @mmrl/core`);
    }
    coreDev = `file:${relative(dir, coreDir).split(sep).join('/')}`;
  }
  const major = PLUGIN_API_VERSION.split('.')[0]!;
  return {
    name,
    namespace,
    apiVersion: `^${major}.0.0`,
    coreRange,
    coreDev,
    tfjsVersion: corePkg.dependencies['@tensorflow/tfjs']!,
    typeboxRange: corePkg.dependencies['@sinclair/typebox']!,
  };
}

/**
 * Writes a plugin package from the template (`packages/cli/templates/plugin`): package.json, tsconfig, tsup config,
 * `src/index.ts` (the plugin object with an example token weighter), `test/plugin.test.ts` (StrategyTester), README.
 * @throws Error on an invalid package name or namespace, a non-empty target directory, or a `--core` directory that
 *   is not @mmrl/core. Nothing is written then.
 */
export async function scaffoldPlugin(name: string, opts: InitPluginOptions = {}): Promise<ScaffoldResult> {
  if (!NPM_NAME.test(name)) {
    throw new Error(`init-plugin: "${name}" is not a valid npm package name (lower case, e.g. mmrl-plugin-acme or @acme/mmrl-plugin)`);
  }
  const namespace = opts.namespace ?? defaultNamespace(name);
  if (!NAMESPACE.test(namespace)) {
    throw new Error(
      `init-plugin: namespace "${namespace}" must be kebab-case ([a-z0-9-], strategy ids are namespace/name)${opts.namespace === undefined ? '; pass --namespace' : ''}`,
    );
  }
  const dir = resolve(opts.dir ?? name.replace(/^@[^/]+\//, ''));
  if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0)) {
    throw new Error(`init-plugin: ${dir} exists and is not an empty directory`);
  }
  const values = templateValues(name, namespace, dir, opts.core);
  const source = join(templatesDir(), 'plugin');
  // Fill every template before writing anything, so a template error leaves no half-written package.
  const outputs = listFiles(source).map((file) => ({
    file: targetName(file),
    text: fillTemplate(readFileSync(join(source, file), 'utf8'), values, file),
  }));
  if (opts.core !== undefined) {
    // A `file:` dependency is symlinked by default, and the link's own dependencies (tfjs, …) are then not installed;
    // with install-links npm copies the local @mmrl/core and installs its dependencies like a registry package's.
    outputs.push({
      file: '.npmrc',
      text: '# --core: npm copies the local @mmrl/core (and installs its dependencies) instead of symlinking it\ninstall-links=true\n',
    });
  }
  for (const { file, text } of outputs) {
    const target = join(dir, file);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, text);
  }
  return { dir, namespace, files: outputs.map((o) => o.file).sort() };
}

/** `mmrl init-plugin <name> [--dir <path>] [--namespace <ns>] [--core <path>]`. */
export async function runInitPlugin(name: string, opts: InitPluginOptions): Promise<void> {
  const { dir, namespace, files } = await scaffoldPlugin(name, opts);
  const shown = relative(process.cwd(), dir) || '.';
  console.log(`mmrl: created plugin package ${name} (namespace ${namespace}) in ${shown}:`);
  for (const f of files) console.log(`  ${f}`);
  console.log(`\nNext:\n  cd ${shown}\n  npm install\n  npm run build && npm test`);
  console.log(`Then use it from a config: plugins: [${name}] and weighters: [{ name: ${namespace}/surprise-boost }]`);
}
