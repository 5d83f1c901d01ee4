import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, isNode } from 'yaml';
import type { StrategyRegistry } from '../plugin/registry.js';
import type { ResolvedConfig } from './base-schema.js';
import { MmrlConfigError, type ConfigIssue } from './config-error.js';
import { validateConfig } from './validate.js';

export interface LoadedConfig {
  config: ResolvedConfig;
  /** Absolute path of the file. */
  file: string;
  /** Directory relative paths in the config resolve against. */
  baseDir: string;
}

/** `file:line:column` of a JSON pointer in YAML/JSON text, when the pointer resolves to a node. */
function locate(text: string, file: string, pointer: string): string | undefined {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  const path = pointer.split('/').slice(1).map((k) => (/^\d+$/.test(k) ? Number(k) : k));
  // Walk up to the deepest existing node (an unknown or missing key points at its parent).
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) {
      const { line, col } = lineCounter.linePos(node.range[0]);
      return `${file}:${line}:${col}`;
    }
  }
  return undefined;
}

/** Parses JSON or YAML text (YAML is a superset of JSON). @throws MmrlConfigError with line and column. */
export function parseConfigText(text: string, file: string): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const issues: ConfigIssue[] = doc.errors.map((e) => {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      return { pointer: '', location: `${file}:${line}:${col}`, message: `syntax error: ${e.message.split('\n')[0]}` };
    });
    throw new MmrlConfigError(issues, file);
  }
  return doc.toJS();
}

/**
 * Reads, parses and validates a config file (`.json`, `.yaml`, `.yml`).
 * @throws MmrlConfigError naming the file, each JSON pointer and its line:column.
 */
export async function loadConfigFile(registry: StrategyRegistry, path: string): Promise<LoadedConfig> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new MmrlConfigError([{ pointer: '', message: `cannot read config file: ${(e as Error).message}` }], file);
  }
  const data = parseConfigText(text, file);
  try {
    return { config: validateConfig(registry, data, file), file, baseDir: dirname(file) };
  } catch (e) {
    if (e instanceof MmrlConfigError) {
      throw new MmrlConfigError(
        e.issues.map((i) => {
          const location = locate(text, file, i.pointer);
          return location ? { ...i, location } : i;
        }),
        file,
      );
    }
    throw e;
  }
}
