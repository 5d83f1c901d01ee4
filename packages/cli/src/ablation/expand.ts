import { createHash } from 'node:crypto';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import {
  checkRequirements,
  validateConfig,
  MmrlConfigError,
  type ConfigIssue,
  type ResolvedConfig,
  type StrategyRegistry,
} from '@mmrl/core';
import { loadPlugins, cliPluginRequests } from '../load-plugins.js';
import { createRegistry, type PluginOptions } from '../registry.js';
import { parsePointer, PointerError, removePointer, setPointer } from './pointer.js';
import { AblationSpecError, ARM_SEPARATOR, armsOf, Locator, type AblationSpec, type Level, type Override } from './spec.js';

/** One arm: a level of every factor. */
export interface Arm {
  /** The level labels joined by `+` (factor order). */
  label: string;
  /** Factor name → level label. */
  levels: Record<string, string>;
}

/** One run of an ablation: an arm with a seed, its validated config and where it goes. */
export interface PlannedRun {
  arm: string;
  levels: Record<string, string>;
  seed: number;
  /** Short sha256 of the canonical JSON of the portable resolved config (see {@link configHash}). */
  hash: string;
  /** `<arm>-seed<k>-<hash>`: the run's directory under `<out>/<ablation>/runs/`. */
  dirName: string;
  /** The validated config with defaults filled and absolute paths: what the run's `mmrl train` reads. */
  config: ResolvedConfig;
}

/** What an ablation spec expands to. */
export interface AblationPlan {
  spec: AblationSpec;
  arms: Arm[];
  /** arms × seeds, arm-major. */
  runs: PlannedRun[];
}

/** Hex characters of the config hash kept in directory names. */
export const HASH_LENGTH = 10;

const isContainer = (v: unknown): v is Record<string, unknown> | unknown[] => v !== null && typeof v === 'object';

/** Whether a string in a config is a relative path to rebase: `./x`, `../x` anywhere, and any relative `init.checkpoint`. */
function isRelativePath(value: string, path: readonly string[]): boolean {
  if (value.startsWith('./') || value.startsWith('../')) return true;
  return path.length === 2 && path[0] === 'init' && path[1] === 'checkpoint' && value.length > 0 && !isAbsolute(value);
}

/**
 * Relative paths in configs: the base config's resolve against its file's directory, the spec's override values
 * against the spec's directory, and both become absolute in the run configs (which live in the run directories).
 * The hash sees them relative to the spec's directory instead, so it does not depend on where the checkout is.
 */
class PathTable {
  /** absolute path → the same path relative to the spec directory (POSIX separators). */
  private readonly portable = new Map<string, string>();

  constructor(private readonly specDir: string) {}

  /** A copy of `value` (found at `path` in the config) with its relative paths made absolute against `baseDir`. */
  absolutize(value: unknown, path: readonly string[], baseDir: string): unknown {
    if (typeof value === 'string') {
      if (!isRelativePath(value, path)) return value;
      const abs = resolve(baseDir, value);
      this.portable.set(abs, relative(this.specDir, abs).split(sep).join('/') || '.');
      return abs;
    }
    if (Array.isArray(value)) return value.map((v, i) => this.absolutize(v, [...path, String(i)], baseDir));
    if (isContainer(value)) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.absolutize(v, [...path, k], baseDir)]));
    }
    return value;
  }

  /** A copy of a config with the absolute paths this table made shown relative to the spec directory. */
  toPortable(value: unknown): unknown {
    if (typeof value === 'string') return this.portable.get(value) ?? value;
    if (Array.isArray(value)) return value.map((v) => this.toPortable(v));
    if (isContainer(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.toPortable(v)]));
    return value;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON with object keys sorted at every level (arrays keep their order). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isContainer(value)) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The first {@link HASH_LENGTH} hex characters of sha256 over the canonical JSON of a config, without
 * `runtime.threads` and `output.tensorboard`: the wasm thread count changes no number of a run (bit-identical
 * results, packages/core/test/runtime/wasm-threads.test.ts), and event files are a copy of metrics.jsonl, so runs
 * that differ only there are the same run.
 */
export function configHash(config: unknown): string {
  let hashed = config;
  const runtime = isObject(config) ? config.runtime : undefined;
  if (isObject(hashed) && isObject(runtime) && 'threads' in runtime) {
    const { threads: _threads, ...rest } = runtime;
    hashed = { ...hashed, runtime: rest };
  }
  const output = isObject(hashed) ? hashed.output : undefined;
  if (isObject(hashed) && isObject(output) && 'tensorboard' in output) {
    const { tensorboard: _tensorboard, ...rest } = output;
    hashed = { ...hashed, output: rest };
  }
  return createHash('sha256').update(canonicalJson(hashed)).digest('hex').slice(0, HASH_LENGTH);
}

/** Issues gathered over every arm, one per (spec place, config pointer, message), naming the arms concerned. */
class ArmIssues {
  private readonly byKey = new Map<string, { issue: ConfigIssue; arms: string[] }>();

  add(arm: string, issue: ConfigIssue): void {
    const key = `${issue.pointer}|${issue.location ?? ''}|${issue.message}`;
    const hit = this.byKey.get(key);
    if (hit) {
      if (!hit.arms.includes(arm)) hit.arms.push(arm);
    } else {
      this.byKey.set(key, { issue, arms: [arm] });
    }
  }

  get size(): number {
    return this.byKey.size;
  }

  list(): ConfigIssue[] {
    return [...this.byKey.values()].map(({ issue, arms }) => ({
      ...issue,
      message: `${arms.length === 1 ? `arm "${arms[0]}"` : `arms ${arms.map((a) => `"${a}"`).join(', ')}`}: ${issue.message}`,
    }));
  }
}

/** Whether one pointer is the other or lies inside it. */
function related(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

/** The arm's raw config: the base, then the common overrides, then each factor's level overrides, in order. */
function armConfig(
  spec: AblationSpec,
  base: Record<string, unknown>,
  levels: readonly Level[],
  paths: PathTable,
  arm: string,
  issues: ArmIssues,
  locate: (pointer: string) => string | undefined,
): { config: Record<string, unknown>; applied: Override[] } | undefined {
  const config = structuredClone(base);
  // The run directory is chosen by the ablation; a $schema path means nothing in a run directory. Only
  // output.tensorboard (what the run writes besides metrics.jsonl) carries over.
  const tensorboard = isObject(config['output']) ? config['output']['tensorboard'] : undefined;
  delete config['output'];
  if (tensorboard !== undefined) config['output'] = { tensorboard };
  delete config['$schema'];
  const applied: Override[] = [];
  let ok = true;
  for (const o of [...spec.overrides, ...levels.flatMap((l) => l.overrides)]) {
    try {
      if (o.remove) removePointer(config, o.pointer);
      else setPointer(config, o.pointer, paths.absolutize(structuredClone(o.value), parsePointer(o.pointer), spec.dir));
      applied.push(o);
    } catch (e) {
      if (!(e instanceof PointerError)) throw e;
      const location = locate(o.source);
      issues.add(arm, {
        pointer: o.source,
        message: `cannot ${o.remove ? 'remove' : 'set'} ${o.pointer}: ${e.message}`,
        ...(location ? { location } : {}),
      });
      ok = false;
    }
  }
  return ok ? { config, applied } : undefined;
}

/**
 * Expands a spec into its runs: arms (the cartesian product of the factors' levels) × seeds. Each run's config is
 * the base with the overrides applied, `seed` set, validated with the registry (built-ins, the configs' `plugins`,
 * `--plugin`) and checked for `requires`; its hash is taken over the validated config (defaults filled) with paths
 * relative to the spec.
 * @throws AblationSpecError listing every problem, each with the spec pointer of the override (or the base) that
 *   causes it and `file:line:column`.
 */
export async function expandAblation(spec: AblationSpec, opts: PluginOptions = {}): Promise<AblationPlan> {
  const paths = new PathTable(spec.dir);
  const baseDir = spec.base.kind === 'file' ? dirname(spec.base.file) : spec.dir;
  const base = paths.absolutize(spec.base.data, [], baseDir) as Record<string, unknown>;
  const specLocator = new Locator(spec.text, spec.file);
  const baseLocator = spec.base.kind === 'file' ? new Locator(spec.base.text, spec.base.file) : undefined;
  const issues = new ArmIssues();

  const arms: { arm: Arm; levels: Level[]; config: Record<string, unknown>; applied: Override[] }[] = [];
  for (const levels of armsOf(spec.factors)) {
    const label = levels.map((l) => l.label).join(ARM_SEPARATOR);
    const built = armConfig(spec, base, levels, paths, label, issues, (p) => specLocator.locate(p));
    if (!built) continue;
    const arm: Arm = { label, levels: Object.fromEntries(spec.factors.map((f, i) => [f.name, levels[i]!.label])) };
    arms.push({ arm, levels, ...built });
  }
  // Arms whose overrides could not be applied are reported with the validation problems of the others, below.
  const registry = await ablationRegistry(opts, arms.map((a) => a.config), baseDir);

  const runs: PlannedRun[] = [];
  for (const { arm, levels, config, applied } of arms) {
    for (const seed of spec.seeds) {
      const raw = structuredClone(config);
      raw['seed'] = seed;
      let resolved: ResolvedConfig;
      try {
        resolved = validateConfig(registry, raw, spec.file);
        checkRequirements(registry, resolved);
      } catch (e) {
        if (e instanceof MmrlConfigError) {
          for (const issue of e.issues) issues.add(arm.label, attribute(issue, applied, specLocator, baseLocator));
        } else {
          const location = specLocator.locate(levels[0]?.source ?? '/factors');
          issues.add(arm.label, {
            pointer: levels[0]?.source ?? '/factors',
            message: (e as Error).message.replace(/\n/g, '\n    '),
            ...(location ? { location } : {}),
          });
        }
        break; // the seeds of an arm differ only in /seed: its other runs have the same problems
      }
      const hash = configHash(paths.toPortable(resolved));
      runs.push({ arm: arm.label, levels: arm.levels, seed, hash, dirName: `${arm.label}-seed${seed}-${hash}`, config: resolved });
    }
  }
  if (issues.size > 0) throw new AblationSpecError(issues.list(), spec.file);
  return { spec, arms: arms.map((a) => a.arm), runs };
}

/**
 * A run-config issue located in the spec: at the last override that set the offending pointer (or a parent or
 * child of it), else in the base config (`/base`, with the base file's `line:column`).
 */
function attribute(issue: ConfigIssue, applied: readonly Override[], spec: Locator, base: Locator | undefined): ConfigIssue {
  const culprit = [...applied].reverse().find((o) => related(o.pointer, issue.pointer || '/'));
  const what = `run config ${issue.pointer || '/'}: ${issue.message}`;
  if (culprit) {
    const location = spec.locate(culprit.source);
    return { pointer: culprit.source, message: `${what} (set by this override)`, ...(location ? { location } : {}) };
  }
  const location = base?.locate(issue.pointer) ?? spec.locate('/base');
  return { pointer: '/base', message: `${what} (from the base config)`, ...(location ? { location } : {}) };
}

/**
 * The registry the run configs are validated with: the built-ins, `--plugin` modules and every plugin listed in any
 * arm's config (paths already absolute; package names resolve from the base config's directory).
 */
async function ablationRegistry(
  opts: PluginOptions,
  configs: readonly Record<string, unknown>[],
  baseDir: string,
): Promise<StrategyRegistry> {
  const registry = await createRegistry({});
  const specifiers = new Set<string>();
  for (const c of configs) {
    const plugins = c['plugins'];
    if (Array.isArray(plugins)) for (const p of plugins) if (typeof p === 'string' && p.length > 0) specifiers.add(p);
  }
  return loadPlugins(registry, [...[...specifiers].map((specifier) => ({ specifier, baseDir })), ...cliPluginRequests(opts.plugin)]);
}
