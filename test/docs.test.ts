// Every registered built-in strategy has a documentation page at docs/strategies/<kind>/<name>.md that documents
// every option of its schema, and the index docs/strategies/README.md lists it (DESIGN.md, "Layout").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { STRATEGY_KINDS, StrategyRegistry, type RegisteredStrategy } from '@mmrl/core';
import builtins from '@mmrl/plugins';
import { ROOT } from './helpers.js';

const DOCS = join(ROOT, 'docs', 'strategies');
const INDEX = join(DOCS, 'README.md');

const registry = new StrategyRegistry().use(builtins);
const registered: RegisteredStrategy[] = STRATEGY_KINDS.flatMap((kind) => registry.list(kind));

type JsonSchema = {
  type?: unknown;
  properties?: Record<string, JsonSchema>;
  anyOf?: JsonSchema[];
  default?: unknown;
};

/** Dotted paths of every option: top-level keys and the keys of nested option objects (e.g. `overlong.factor`). */
function optionPaths(schema: JsonSchema, prefix = ''): { path: string; key: string; schema: JsonSchema }[] {
  const out: { path: string; key: string; schema: JsonSchema }[] = [];
  for (const [key, sub] of Object.entries(schema.properties ?? {})) {
    const path = `${prefix}${key}`;
    out.push({ path, key, schema: sub });
    const objects = [sub, ...(sub.anyOf ?? [])].filter((s) => s.type === 'object' && s.properties);
    for (const o of objects) out.push(...optionPaths(o, `${path}.`));
  }
  return out;
}

function pagePath(s: RegisteredStrategy): string {
  return join(DOCS, s.definition.kind, `${s.id}.md`);
}

/** Cells of a markdown table row (`\|` inside a cell is not a separator), trimmed. */
function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

/** Rows of the `## Options` section's tables whose first cell is a single code span, keyed by that span's text. */
function optionRows(page: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  const section = /^## Options[ \t]*\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(page)?.[1] ?? '';
  for (const line of section.split('\n')) {
    if (!line.trimStart().startsWith('|')) continue;
    const row = cells(line);
    const m = /^`([^`]+)`$/.exec(row[0] ?? '');
    if (m && !rows.has(m[1]!)) rows.set(m[1]!, row);
  }
  return rows;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Every `{ name: <id>, options }` slot in the page's ```yaml blocks. */
function exampleSlots(page: string, id: string): { options: unknown }[] {
  const slots: { options: unknown }[] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (o['name'] === id) slots.push({ options: o['options'] ?? {} });
      Object.values(o).forEach(visit);
    }
  };
  for (const m of page.matchAll(/```yaml\n([\s\S]*?)```/g)) visit(parseYaml(m[1]!));
  return slots;
}

test('the built-in plugin registers strategies to document', () => {
  assert.ok(registered.length > 0);
  assert.equal(registered.length, builtins.strategies.length);
});

for (const s of registered) {
  const label = `${s.definition.kind}/${s.id}`;
  const schema = s.definition.optionsSchema as JsonSchema;

  test(`${label}: docs page exists and names every option key`, () => {
    const file = pagePath(s);
    assert.ok(existsSync(file), `missing documentation page ${relative(ROOT, file)}`);
    const page = readFileSync(file, 'utf8');
    for (const { path, key } of optionPaths(schema)) {
      const mentioned = new RegExp('`[^`\\n]*\\b' + escapeRegExp(key) + '\\b[^`\\n]*`').test(page);
      assert.ok(mentioned, `${relative(ROOT, file)} does not mention option \`${path}\``);
    }
  });

  test(`${label}: options table has a row per option with the schema default`, () => {
    const file = pagePath(s);
    if (!existsSync(file)) return assert.fail(`missing documentation page ${relative(ROOT, file)}`);
    const rows = optionRows(readFileSync(file, 'utf8'));
    for (const { path, schema: option } of optionPaths(schema)) {
      const row = rows.get(path);
      assert.ok(row, `${relative(ROOT, file)}: no options-table row for \`${path}\``);
      assert.ok(row.length >= 4, `${relative(ROOT, file)}: row for \`${path}\` needs option | type | default | meaning`);
      if (!('default' in option)) continue;
      const shown = /`([^`]+)`/.exec(row[2]!);
      assert.ok(shown, `${relative(ROOT, file)}: default of \`${path}\` is not given as a code span`);
      assert.deepEqual(parseYaml(shown[1]!), option.default, `${relative(ROOT, file)}: documented default of \`${path}\``);
    }
  });

  test(`${label}: example slots validate against the options schema`, () => {
    const file = pagePath(s);
    if (!existsSync(file)) return assert.fail(`missing documentation page ${relative(ROOT, file)}`);
    const slots = exampleSlots(readFileSync(file, 'utf8'), s.id);
    assert.ok(slots.length > 0, `${relative(ROOT, file)} has no \`name: ${s.id}\` slot in a yaml block`);
    const validate = new Ajv({ strict: true, allErrors: true, useDefaults: true }).compile(s.definition.optionsSchema);
    for (const slot of slots) {
      const options = structuredClone(slot.options);
      assert.ok(validate(options), `${relative(ROOT, file)} example ${JSON.stringify(slot.options)}: ${JSON.stringify(validate.errors)}`);
    }
  });

  test(`${label}: the index lists it`, () => {
    const target = `${s.definition.kind}/${s.id}.md`;
    const row = readFileSync(INDEX, 'utf8')
      .split('\n')
      .filter((line) => line.trimStart().startsWith('|'))
      .map(cells)
      .find((r) => r.some((c) => c.includes(`](${target})`) || c.includes(`](./${target})`)));
    assert.ok(row, `docs/strategies/README.md has no row linking ${target}`);
    assert.equal(row[0], s.definition.kind, `index row of ${target}: kind column`);
    assert.equal(row[1]!.replaceAll('`', ''), s.id, `index row of ${target}: name column`);
    assert.ok((row[2] ?? '').length > 0, `index row of ${target}: empty summary`);
  });
}

test('every page linked from the index exists and belongs to a registered strategy', () => {
  const index = readFileSync(INDEX, 'utf8');
  const ids = new Set(registered.map((s) => `${s.definition.kind}/${s.id}.md`));
  const links = [...index.matchAll(/\]\((?:\.\/)?([^)\s]+\.md)\)/g)].map((m) => m[1]!);
  assert.ok(links.length > 0, 'the index links no page');
  for (const link of links) {
    assert.ok(existsSync(join(DOCS, link)), `index links missing page ${link}`);
    assert.ok(ids.has(link), `index links ${link}, which is not a registered strategy`);
  }
});
