import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import { LineCounter, isNode, parseDocument, type Document } from 'yaml';
import { closest, parseConfigText, MmrlConfigError, type ConfigIssue } from '@mmrl/core';
import { escapeToken, parsePointer, PointerError } from './pointer.js';
import { parseExecutorSection, type ExecutorSection } from './executor-config.js';

/** One override of an ablation spec: set (or remove) the value at `pointer` of the run config. */
export interface Override {
  /** Where in the run config (JSON pointer, e.g. `/trainer/weighters/0/options/beta`). */
  pointer: string;
  /** The value to set (absent when `remove`). */
  value?: unknown;
  /** Remove the key or array element instead of setting it. */
  remove?: boolean;
  /** Where the override is written in the spec file (JSON pointer into the spec), for error messages. */
  source: string;
}

/** One level of a factor: a label and the overrides that make it. */
export interface Level {
  label: string;
  description?: string;
  overrides: Override[];
  /** JSON pointer of the level in the spec. */
  source: string;
}

/** One factor: a name and its levels. */
export interface Factor {
  name: string;
  description?: string;
  levels: Level[];
  /** JSON pointer of the factor in the spec. */
  source: string;
}

/**
 * A claim the ablation tests: arm `better` reaches a higher held-out accuracy than arm `worse` (paired by seed). The
 * report computes its verdict (see `claims.ts`).
 */
export interface Claim {
  better: string;
  worse: string;
  /** Where the claim comes from, e.g. "TGRL Table 1". */
  source?: string;
  /** The effect to plan seeds for, as a fraction of accuracy (the spec writes percentage points: `effect: 3`). */
  effect?: number;
  /** JSON pointer of the claim in the spec. */
  pointer: string;
}

/** The base config of an ablation: a file (relative paths in it resolve against its directory) or an inline object. */
export type BaseConfig =
  | { kind: 'file'; file: string; data: Record<string, unknown>; text: string }
  | { kind: 'inline'; data: Record<string, unknown> };

/** A parsed and structurally checked ablation spec (see docs/ablations.md). */
export interface AblationSpec {
  /** Absolute path of the spec file. */
  file: string;
  /** The spec file's directory: relative paths in the spec resolve against it. */
  dir: string;
  /** The spec's text (for `file:line:column` in errors). */
  text: string;
  /** Name of the ablation: its directory under `--out`. */
  name: string;
  description?: string;
  base: BaseConfig;
  /** Overrides applied to every run before the factors' (`steps` becomes `/trainer/steps`). */
  overrides: Override[];
  factors: Factor[];
  seeds: number[];
  /** The label of the arm the others are compared with. */
  baseline: string;
  /** Directions to test, with a computed verdict each (empty when the spec lists none). */
  claims: Claim[];
  /** Where the runs execute (`executor:`; `--executor` and `--slurm-*` override it; absent: local). */
  executor?: ExecutorSection;
  /**
   * A held-out evaluation of every finished run's final checkpoint on more test prompts than the runs' own
   * `eval.prompts` (`finalEval:`); the report compares arms on it. Absent: the runs' own after-RL evaluation.
   */
  finalEval?: FinalEvalSection;
}

/** The spec's `finalEval`: how many held-out test prompts the final checkpoint of every run is evaluated on. */
export interface FinalEvalSection {
  /** Held-out test prompts (greedy pass@1), e.g. 10000. */
  prompts: number;
}

/** Keys of a spec, a factor, a level and a list-form override. */
const SPEC_KEYS = ['name', 'description', 'base', 'steps', 'overrides', 'factors', 'seeds', 'baseline', 'claims', 'executor', 'finalEval'] as const;
const CLAIM_KEYS = ['better', 'worse', 'source', 'effect'] as const;
const FACTOR_KEYS = ['name', 'description', 'levels'] as const;
const LEVEL_KEYS = ['label', 'description', 'overrides'] as const;
const OVERRIDE_KEYS = ['pointer', 'value', 'remove'] as const;

/** Labels and names become directory names: letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export const LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Joins the level labels of an arm (one per factor, in factor order). */
export const ARM_SEPARATOR = '+';

/**
 * An ablation spec that cannot be used: every issue carries the JSON pointer into the spec (or the run config) and,
 * when it can be found, the spec's `file:line:column`. Printed by the CLI like a config error.
 */
export class AblationSpecError extends MmrlConfigError {
  constructor(issues: ConfigIssue[], file: string) {
    super(issues, file);
    this.name = 'AblationSpecError';
    this.message = `Invalid ablation spec ${file}:\n${issues
      .map((i) => `  ${i.pointer || '/'}${i.location ? ` (${i.location})` : ''}: ${i.message}`)
      .join('\n')}`;
  }
}

/** Finds `file:line:column` of JSON pointers in a YAML/JSON text (the deepest existing node on the way). */
export class Locator {
  private readonly lineCounter = new LineCounter();
  private readonly doc: Document;

  constructor(
    text: string,
    private readonly file: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lineCounter });
  }

  /** `file:line:column` of the node at `pointer`, or of its deepest existing ancestor; undefined if none. */
  locate(pointer: string): string | undefined {
    let path: (string | number)[];
    try {
      path = parsePointer(pointer).map((k) => (/^\d+$/.test(k) ? Number(k) : k));
    } catch {
      return undefined;
    }
    for (let n = path.length; n >= 0; n--) {
      const node = this.doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) {
        const { line, col } = this.lineCounter.linePos(node.range[0]);
        return `${this.file}:${line}:${col}`;
      }
    }
    return undefined;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Collects issues while a spec is checked, with locations; throws them all at the end. */
class IssueList {
  readonly issues: ConfigIssue[] = [];
  constructor(private readonly locator: Locator) {}

  add(pointer: string, message: string): void {
    const location = this.locator.locate(pointer);
    this.issues.push(location ? { pointer, message, location } : { pointer, message });
  }

  /** Unknown keys of an object at `pointer`, with "did you mean". */
  keys(obj: Record<string, unknown>, allowed: readonly string[], pointer: string): void {
    for (const key of Object.keys(obj)) {
      if (allowed.includes(key)) continue;
      const hint = closest(key, allowed);
      const suggestion = hint ? `; did you mean "${hint}"?` : '';
      this.add(`${pointer}/${escapeToken(key)}`, `unknown key "${key}"${suggestion} (allowed: ${allowed.join(', ')})`);
    }
  }
}

/** Checks an override's target pointer; returns it, or undefined after recording the issue. */
function targetPointer(issues: IssueList, pointer: unknown, source: string): string | undefined {
  if (typeof pointer !== 'string') {
    issues.add(source, `an override's pointer must be a string such as "/trainer/steps", got ${JSON.stringify(pointer)}`);
    return undefined;
  }
  try {
    const tokens = parsePointer(pointer);
    if (tokens.length === 0) throw new PointerError('the root "" cannot be overridden; name a key');
    if (pointer === '/seed') throw new PointerError('the seed of each run comes from the spec\'s "seeds" list');
  } catch (e) {
    issues.add(source, `bad override pointer "${pointer}": ${(e as Error).message}`);
    return undefined;
  }
  return pointer;
}

/**
 * Overrides in either form: a map `{ "/trainer/steps": 50 }` or a list
 * `[{ pointer: /trainer/steps, value: 50 }, { pointer: /trainer/weighters/1, remove: true }]`.
 */
function parseOverrides(issues: IssueList, raw: unknown, source: string): Override[] {
  if (raw === undefined || raw === null) return [];
  const out: Override[] = [];
  if (Array.isArray(raw)) {
    raw.forEach((entry, i) => {
      const at = `${source}/${i}`;
      if (!isObject(entry)) {
        issues.add(at, 'an override in list form is { pointer, value } or { pointer, remove: true }');
        return;
      }
      issues.keys(entry, OVERRIDE_KEYS, at);
      const pointer = targetPointer(issues, entry['pointer'], `${at}/pointer`);
      if (pointer === undefined) return;
      const remove = entry['remove'];
      if (remove !== undefined && typeof remove !== 'boolean') {
        issues.add(`${at}/remove`, 'must be a boolean');
        return;
      }
      if (remove === true) {
        if ('value' in entry) issues.add(at, 'an override either sets a value or removes (remove: true), not both');
        out.push({ pointer, remove: true, source: at });
      } else if (!('value' in entry)) {
        issues.add(at, `the override of ${pointer} has no value (write value: …, or remove: true)`);
      } else {
        out.push({ pointer, value: entry['value'], source: at });
      }
    });
    return out;
  }
  if (!isObject(raw)) {
    issues.add(source, 'overrides are a map { "/json/pointer": value } or a list of { pointer, value }');
    return out;
  }
  for (const [pointer, value] of Object.entries(raw)) {
    const at = `${source}/${escapeToken(pointer)}`;
    if (targetPointer(issues, pointer, at) !== undefined) out.push({ pointer, value, source: at });
  }
  return out;
}

function parseLabel(issues: IssueList, raw: unknown, pointer: string, what: string): string | undefined {
  if (typeof raw !== 'string' || !LABEL_PATTERN.test(raw)) {
    issues.add(
      pointer,
      `${what} must be a non-empty string of letters, digits, ".", "_" and "-" starting with a letter or digit ` +
        `(it names directories), got ${JSON.stringify(raw)}`,
    );
    return undefined;
  }
  return raw;
}

/**
 * Checks the structure of a parsed spec (not yet the run configs: see `expandAblation`).
 * @param loadBase reads a base config file given its absolute path.
 * @throws AblationSpecError listing every problem with its spec pointer and `file:line:column`.
 */
export async function parseAblationSpec(
  data: unknown,
  file: string,
  text: string,
  loadBase: (path: string) => Promise<{ data: unknown; text: string }>,
): Promise<AblationSpec> {
  const locator = new Locator(text, file);
  const issues = new IssueList(locator);
  const fail = (): never => {
    throw new AblationSpecError(issues.issues, file);
  };
  if (!isObject(data)) {
    issues.add('', 'an ablation spec is a mapping with base, factors, seeds and baseline');
    return fail();
  }
  issues.keys(data, SPEC_KEYS, '');
  for (const key of ['base', 'factors', 'seeds', 'baseline'] as const) {
    if (data[key] === undefined) issues.add(`/${key}`, 'is required');
  }
  const dir = dirname(file);

  // name
  let name = basename(file, extname(file));
  if (data['name'] !== undefined) name = parseLabel(issues, data['name'], '/name', 'name') ?? name;
  else if (!LABEL_PATTERN.test(name)) issues.add('', `the spec file name "${name}" cannot name a directory: give the spec a name`);
  const description = typeof data['description'] === 'string' ? data['description'] : undefined;
  if (data['description'] !== undefined && description === undefined) issues.add('/description', 'must be a string');

  // base
  let base: BaseConfig | undefined;
  const rawBase = data['base'];
  if (typeof rawBase === 'string') {
    const baseFile = resolve(dir, rawBase);
    try {
      const loaded = await loadBase(baseFile);
      if (!isObject(loaded.data)) issues.add('/base', `the base config ${baseFile} is not a mapping`);
      else base = { kind: 'file', file: baseFile, data: loaded.data, text: loaded.text };
    } catch (e) {
      if (e instanceof MmrlConfigError) {
        for (const i of e.issues) {
          issues.add('/base', `base config ${baseFile}: ${i.pointer || '/'}${i.location ? ` (${i.location})` : ''}: ${i.message}`);
        }
      } else {
        issues.add('/base', `cannot read the base config ${baseFile}: ${(e as Error).message}`);
      }
    }
  } else if (isObject(rawBase)) {
    base = { kind: 'inline', data: rawBase };
  } else if (rawBase !== undefined) {
    issues.add('/base', 'must be a path to a config file (relative to the spec) or an inline config mapping');
  }

  // common overrides
  const overrides: Override[] = [];
  if (data['steps'] !== undefined) {
    const steps = data['steps'];
    if (typeof steps !== 'number' || !Number.isInteger(steps) || steps < 0) issues.add('/steps', 'must be a non-negative integer (RL steps)');
    else overrides.push({ pointer: '/trainer/steps', value: steps, source: '/steps' });
  }
  overrides.push(...parseOverrides(issues, data['overrides'], '/overrides'));

  // factors
  const issuesBeforeFactors = issues.issues.length;
  const factors: Factor[] = [];
  const rawFactors = data['factors'];
  if (rawFactors !== undefined && (!Array.isArray(rawFactors) || rawFactors.length === 0)) {
    issues.add('/factors', 'must be a non-empty list of factors, each { name, levels: [{ label, overrides }] }');
  } else if (Array.isArray(rawFactors)) {
    const names = new Set<string>();
    rawFactors.forEach((rawFactor, f) => {
      const at = `/factors/${f}`;
      if (!isObject(rawFactor)) {
        issues.add(at, 'a factor is { name, levels: [{ label, overrides }] }');
        return;
      }
      issues.keys(rawFactor, FACTOR_KEYS, at);
      const factorName = parseLabel(issues, rawFactor['name'], `${at}/name`, 'a factor name');
      if (factorName !== undefined) {
        if (names.has(factorName)) issues.add(`${at}/name`, `factor "${factorName}" is named twice`);
        names.add(factorName);
      }
      const rawLevels = rawFactor['levels'];
      if (!Array.isArray(rawLevels) || rawLevels.length === 0) {
        issues.add(`${at}/levels`, 'must be a non-empty list of levels, each { label, overrides }');
        return;
      }
      const labels = new Set<string>();
      const levels: Level[] = [];
      rawLevels.forEach((rawLevel, l) => {
        const lat = `${at}/levels/${l}`;
        if (!isObject(rawLevel)) {
          issues.add(lat, 'a level is { label, overrides }');
          return;
        }
        issues.keys(rawLevel, LEVEL_KEYS, lat);
        const label = parseLabel(issues, rawLevel['label'], `${lat}/label`, 'a level label');
        if (label !== undefined) {
          if (labels.has(label)) issues.add(`${lat}/label`, `level "${label}" appears twice in factor "${factorName ?? f}"`);
          labels.add(label);
        }
        const levelOverrides = parseOverrides(issues, rawLevel['overrides'], `${lat}/overrides`);
        const levelDescription = rawLevel['description'];
        if (levelDescription !== undefined && typeof levelDescription !== 'string') issues.add(`${lat}/description`, 'must be a string');
        if (label !== undefined) {
          levels.push({
            label,
            overrides: levelOverrides,
            source: lat,
            ...(typeof levelDescription === 'string' ? { description: levelDescription } : {}),
          });
        }
      });
      const factorDescription = rawFactor['description'];
      if (factorDescription !== undefined && typeof factorDescription !== 'string') issues.add(`${at}/description`, 'must be a string');
      if (factorName !== undefined) {
        factors.push({
          name: factorName,
          levels,
          source: at,
          ...(typeof factorDescription === 'string' ? { description: factorDescription } : {}),
        });
      }
    });
  }

  const factorsOk = issues.issues.length === issuesBeforeFactors && factors.length > 0;

  // seeds
  const seeds: number[] = [];
  const rawSeeds = data['seeds'];
  if (rawSeeds !== undefined && (!Array.isArray(rawSeeds) || rawSeeds.length === 0)) {
    issues.add('/seeds', 'must be a non-empty list of non-negative integers');
  } else if (Array.isArray(rawSeeds)) {
    rawSeeds.forEach((seed, i) => {
      if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0) {
        issues.add(`/seeds/${i}`, `a seed is a non-negative integer, got ${JSON.stringify(seed)}`);
      } else if (seeds.includes(seed)) issues.add(`/seeds/${i}`, `seed ${seed} is listed twice`);
      else seeds.push(seed);
    });
  }

  // baseline
  let baseline = '';
  const rawBaseline = data['baseline'];
  if (rawBaseline !== undefined && typeof rawBaseline !== 'string') {
    issues.add('/baseline', 'must be the label of an arm (the level labels of its factors joined by "+")');
  } else if (typeof rawBaseline === 'string') {
    baseline = rawBaseline;
    if (factorsOk) {
      const labels = armLabels(factors);
      if (!labels.includes(baseline)) {
        const hint = closest(baseline, labels);
        issues.add(
          '/baseline',
          `"${baseline}" is not an arm${hint ? `; did you mean "${hint}"?` : ''} (arms: ${labels.join(', ')}; ` +
            `an arm is the level labels of its factors joined by "${ARM_SEPARATOR}")`,
        );
      }
    }
  }

  const claims = parseClaims(issues, data['claims'], factorsOk ? armLabels(factors) : undefined);
  const executor = parseExecutorSection(data['executor'], (pointer, message) => issues.add(pointer, message));
  const finalEval = parseFinalEval(issues, data['finalEval']);

  if (issues.issues.length > 0 || !base) return fail();
  return {
    file,
    dir,
    text,
    name,
    ...(description !== undefined ? { description } : {}),
    base,
    overrides,
    factors,
    seeds,
    baseline,
    claims,
    ...(executor ? { executor } : {}),
    ...(finalEval ? { finalEval } : {}),
  };
}

/** Most test prompts a final evaluation may ask for (about 40 s per run on one wasm thread for the small policy). */
export const MAX_FINAL_EVAL_PROMPTS = 100_000;

/** The spec's `finalEval`: `{ prompts: <positive integer> }`, or absent. */
function parseFinalEval(issues: IssueList, raw: unknown): FinalEvalSection | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) {
    issues.add('/finalEval', 'must be a mapping such as { prompts: 10000 } (held-out test prompts of the final evaluation)');
    return undefined;
  }
  issues.keys(raw, ['prompts'] as const, '/finalEval');
  const prompts = raw['prompts'];
  if (typeof prompts !== 'number' || !Number.isInteger(prompts) || prompts < 1 || prompts > MAX_FINAL_EVAL_PROMPTS) {
    issues.add('/finalEval/prompts', `must be an integer from 1 to ${MAX_FINAL_EVAL_PROMPTS} (held-out test prompts), got ${JSON.stringify(prompts)}`);
    return undefined;
  }
  return { prompts };
}

/**
 * The spec's `claims`: a list of `{ better: <arm>, worse: <arm>, source?: string, effect?: <points> }`.
 * @param arms the arm labels, when the factors parsed (else arm names are not checked).
 */
function parseClaims(issues: IssueList, raw: unknown, arms: readonly string[] | undefined): Claim[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    issues.add('/claims', 'must be a list of { better: <arm>, worse: <arm>, source: "Paper Table 1" }');
    return [];
  }
  const claims: Claim[] = [];
  raw.forEach((entry, i) => {
    const at = `/claims/${i}`;
    if (!isObject(entry)) {
      issues.add(at, 'a claim is { better: <arm>, worse: <arm>, source: "Paper Table 1", effect: <points> }');
      return;
    }
    issues.keys(entry, CLAIM_KEYS, at);
    const arm = (key: 'better' | 'worse'): string | undefined => {
      const value = entry[key];
      if (typeof value !== 'string') {
        issues.add(`${at}/${key}`, `is required: the label of an arm (level labels joined by "${ARM_SEPARATOR}")`);
        return undefined;
      }
      if (arms && !arms.includes(value)) {
        const hint = closest(value, arms);
        issues.add(`${at}/${key}`, `"${value}" is not an arm${hint ? `; did you mean "${hint}"?` : ''} (arms: ${arms.join(', ')})`);
        return undefined;
      }
      return value;
    };
    const better = arm('better');
    const worse = arm('worse');
    if (better !== undefined && better === worse) issues.add(at, `a claim compares two different arms, got "${better}" twice`);
    const source = entry['source'];
    if (source !== undefined && typeof source !== 'string') issues.add(`${at}/source`, 'must be a string such as "TGRL Table 1"');
    const effect = entry['effect'];
    if (effect !== undefined && (typeof effect !== 'number' || !Number.isFinite(effect) || effect <= 0 || effect > 100)) {
      issues.add(`${at}/effect`, `the effect to plan seeds for is in percentage points of accuracy, in (0, 100], got ${JSON.stringify(effect)}`);
    }
    if (better === undefined || worse === undefined || better === worse) return;
    claims.push({
      better,
      worse,
      pointer: at,
      ...(typeof source === 'string' ? { source } : {}),
      ...(typeof effect === 'number' && effect > 0 && effect <= 100 ? { effect: effect / 100 } : {}),
    });
  });
  return claims;
}

/** Every arm's label (the cartesian product of the factors' levels, first factor slowest). */
export function armLabels(factors: readonly Factor[]): string[] {
  return armsOf(factors).map((levels) => levels.map((l) => l.label).join(ARM_SEPARATOR));
}

/** The cartesian product of the factors' levels, first factor slowest. */
export function armsOf(factors: readonly Factor[]): Level[][] {
  return factors.reduce<Level[][]>((arms, factor) => arms.flatMap((arm) => factor.levels.map((level) => [...arm, level])), [[]]);
}

/**
 * Reads and checks an ablation spec file (YAML or JSON). A base config given as a path is read (and parsed) too.
 * @throws AblationSpecError (a MmrlConfigError) naming the spec file, the JSON pointer and `line:column`.
 */
export async function loadAblationSpec(path: string): Promise<AblationSpec> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new AblationSpecError([{ pointer: '', message: `cannot read the ablation spec: ${(e as Error).message}` }], file);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new AblationSpecError(
      doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return { pointer: '', location: `${file}:${line}:${col}`, message: `syntax error: ${e.message.split('\n')[0]}` };
      }),
      file,
    );
  }
  return parseAblationSpec(doc.toJS(), file, text, async (baseFile) => {
    const baseText = await readFile(baseFile, 'utf8');
    return { data: parseConfigText(baseText, baseFile), text: baseText };
  });
}
