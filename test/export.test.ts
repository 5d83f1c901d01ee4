// `mmrl export`: the metrics.jsonl rows of a run directory or of every run of an ablation directory as one long CSV or
// Parquet table. Fake run and ablation directories (no training); the CSV is read back with a small RFC 4180 parser
// written here, the Parquet file with hyparquet (a reader independent of the writer's code path), and both compared
// with the expected table cell by cell.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { runExport } from '../packages/cli/src/commands/export.js';
import { mmrl } from './helpers.js';

/** RFC 4180 CSV: fields separated by commas, records by CRLF or LF, `"…"` quoting with `""` for a quote. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), (i += 2);
      else if (c === '"') (quoted = false), i++;
      else (field += c), i++;
    } else if (c === '"' && field === '') (quoted = true), i++;
    else if (c === ',') record.push(field), (field = ''), i++;
    else if (c === '\n' || (c === '\r' && text[i + 1] === '\n')) {
      record.push(field);
      records.push(record);
      (record = []), (field = ''), (i += c === '\r' ? 2 : 1);
    } else (field += c), i++;
  }
  assert.ok(!quoted, 'unterminated quoted field');
  if (field !== '' || record.length > 0) record.push(field), records.push(record);
  return records;
}

const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

/** A run directory `<parent>/<name>` with config.json and the rows as metrics.jsonl (and run.json when given). */
function fakeRun(parent: string, name: string, rows: unknown[], record?: Record<string, unknown>): string {
  const dir = join(parent, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ config: { seed: 1 } }));
  writeFileSync(join(dir, 'metrics.jsonl'), jsonl(rows));
  if (record) writeFileSync(join(dir, 'run.json'), JSON.stringify({ status: 'completed', levels: {}, hash: 'h', ...record }));
  return dir;
}

// One run's rows: an evaluation (a label with a comma and quotes), RL rows with an integer column (trajectories),
// a float column, a boolean, a null (a NaN metric), and a key first seen in the last row.
const RUN_ROWS = [
  { phase: 'eval', label: 'before RL, "greedy"', prompts: 4, accuracy: 0.25 },
  { phase: 'rl', step: 0, reward_mean: 0.1, trajectories: 8, skipped: false, kl: null },
  { phase: 'rl', step: 1, reward_mean: 1e-7, trajectories: 8, skipped: true, kl: 0.0012345678901234567 },
  { phase: 'eval', label: 'after RL', prompts: 4, accuracy: 1, note: 'multi\nline' },
];
const RUN_COLUMNS = ['run', 'phase', 'label', 'prompts', 'accuracy', 'step', 'reward_mean', 'trajectories', 'skipped', 'kl', 'note'];
const RUN_TABLE = [
  ['r1', 'eval', 'before RL, "greedy"', 4, 0.25, null, null, null, null, null, null],
  ['r1', 'rl', null, null, null, 0, 0.1, 8, false, null, null],
  ['r1', 'rl', null, null, null, 1, 1e-7, 8, true, 0.0012345678901234567, null],
  ['r1', 'eval', 'after RL', 4, 1, null, null, null, null, null, 'multi\nline'],
];

/** The CSV text of a cell: empty for null, booleans as true/false, numbers as JavaScript prints them. */
const csvText = (v: unknown): string => (v === null ? '' : String(v));

test('export a run directory: CSV and Parquet hold every row, the union of the keys in first-seen order, exact values', async () => {
  const dir = fakeRun(mkdtempSync(join(tmpdir(), 'mmrl-export-')), 'r1', RUN_ROWS);

  const csv = await runExport(dir, { format: 'csv' });
  assert.equal(csv.file, join(dir, 'metrics.csv'));
  const records = parseCsv(readFileSync(csv.file, 'utf8'));
  assert.deepEqual(records[0], RUN_COLUMNS);
  assert.deepEqual(records.slice(1), RUN_TABLE.map((row) => row.map(csvText)));
  // Numbers survive the text form exactly.
  assert.equal(Number(records[3]![9]), 0.0012345678901234567);

  const pq = await runExport(dir, { format: 'parquet' });
  assert.equal(pq.file, join(dir, 'metrics.parquet'));
  const buffer = readFileSync(pq.file);
  const file = buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
  const types = Object.fromEntries(
    parquetMetadata(file)
      .schema.slice(1)
      .map((e) => [e.name, `${e.type}${e.converted_type ? `/${e.converted_type}` : ''}`]),
  );
  assert.deepEqual(types, {
    run: 'BYTE_ARRAY/UTF8',
    phase: 'BYTE_ARRAY/UTF8',
    label: 'BYTE_ARRAY/UTF8',
    prompts: 'DOUBLE', // a metric, integral or not: DOUBLE (only step and seed are INT64)
    accuracy: 'DOUBLE',
    step: 'INT64',
    reward_mean: 'DOUBLE',
    trajectories: 'DOUBLE',
    skipped: 'BOOLEAN',
    kl: 'DOUBLE',
    note: 'BYTE_ARRAY/UTF8',
  });
  const rows = await parquetReadObjects({ file });
  const int64 = new Set(['step']);
  assert.deepEqual(
    rows,
    RUN_TABLE.map((row) =>
      Object.fromEntries(RUN_COLUMNS.map((c, j) => [c, int64.has(c) && row[j] !== null ? BigInt(row[j] as number) : row[j]])),
    ),
  );
});

test('export an ablation directory: run, arm and seed from run.json, runs in directory order, unstarted runs left out', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmrl-export-ablation-'));
  const runs = join(dir, 'runs');
  fakeRun(runs, 'wide-seed1-bbb', [{ phase: 'rl', step: 0, reward_mean: 0.5, clip_fraction: 0.125 }], { arm: 'wide', seed: 1 });
  fakeRun(runs, 'narrow-seed2-aaa', [{ phase: 'rl', step: 0, reward_mean: 0.25 }, { phase: 'eval', label: 'after RL', accuracy: 0.75 }], {
    arm: 'narrow',
    seed: 2,
  });
  // A metrics key named like an identifying column is renamed.
  fakeRun(runs, 'narrow-seed1-ccc', [{ phase: 'rl', step: 0, reward_mean: 0, seed: 99 }], { arm: 'narrow', seed: 1 });
  mkdirSync(join(runs, 'wide-seed2-ddd')); // not started: no metrics.jsonl
  writeFileSync(join(dir, 'report.json'), '{}');

  const expected = [
    ['run', 'arm', 'seed', 'phase', 'step', 'reward_mean', 'metric_seed', 'label', 'accuracy', 'clip_fraction'],
    ['narrow-seed1-ccc', 'narrow', 1, 'rl', 0, 0, 99, null, null, null],
    ['narrow-seed2-aaa', 'narrow', 2, 'rl', 0, 0.25, null, null, null, null],
    ['narrow-seed2-aaa', 'narrow', 2, 'eval', null, null, null, 'after RL', 0.75, null],
    ['wide-seed1-bbb', 'wide', 1, 'rl', 0, 0.5, null, null, null, 0.125],
  ];
  const csv = await runExport(dir, {});
  assert.equal(csv.format, 'csv');
  assert.equal(csv.file, join(dir, 'metrics.csv'));
  assert.equal(csv.runs, 3);
  assert.deepEqual(csv.skipped, ['wide-seed2-ddd']);
  assert.deepEqual(parseCsv(readFileSync(csv.file, 'utf8')), expected.map((row) => row.map(csvText)));

  // --out ending in .parquet selects Parquet.
  const out = join(dir, 'elsewhere', 'table.parquet');
  const pq = await runExport(dir, { out });
  assert.equal(pq.format, 'parquet');
  const buffer = readFileSync(out);
  const rows = await parquetReadObjects({ file: buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength) });
  const [columns, ...table] = expected as [string[], ...unknown[][]];
  const int64 = new Set(['seed', 'step']); // the index columns; every metric is DOUBLE
  assert.deepEqual(
    rows,
    table.map((row) =>
      Object.fromEntries(columns.map((c, j) => [c, row[j] === null || typeof row[j] !== 'number' || !int64.has(c) ? row[j] : BigInt(row[j] as number)])),
    ),
  );
});

test('mmrl export on the command line: default output, --format, and errors that name the path and the line', () => {
  const parent = mkdtempSync(join(tmpdir(), 'mmrl-export-cli-'));
  const dir = fakeRun(parent, 'r1', RUN_ROWS);
  const ok = mmrl(['export', dir, '--format', 'parquet']);
  assert.equal(ok.status, 0, ok.stderr + ok.stdout);
  assert.ok(existsSync(join(dir, 'metrics.parquet')));
  assert.match(ok.stdout, /4 rows × 11 columns from 1 run written to .*metrics\.parquet/);

  const empty = join(parent, 'empty');
  mkdirSync(empty);
  const neither = mmrl(['export', empty]);
  assert.equal(neither.status, 1);
  assert.match(neither.stderr, new RegExp(`mmrl: error: ${empty.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is neither a run directory \\(no metrics\\.jsonl\\) nor an ablation directory \\(no runs/ directory\\)`));

  const bad = fakeRun(parent, 'bad', []);
  writeFileSync(join(bad, 'metrics.jsonl'), `${JSON.stringify(RUN_ROWS[0])}\n\n{"phase": "rl", "step": 1,\n`);
  const malformed = mmrl(['export', bad]);
  assert.equal(malformed.status, 1);
  assert.match(malformed.stderr, new RegExp(`${join(bad, 'metrics.jsonl').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: malformed metrics row`));
  assert.ok(!existsSync(join(bad, 'metrics.csv')));

  // A results archive's run (`mmrl archive`): metrics.jsonl.gz is read like metrics.jsonl; a corrupt one is named.
  const archived = fakeRun(parent, 'archived', []);
  rmSync(join(archived, 'metrics.jsonl'));
  writeFileSync(join(archived, 'metrics.jsonl.gz'), gzipSync(jsonl(RUN_ROWS)));
  assert.equal(mmrl(['export', dir]).status, 0);
  const fromGz = mmrl(['export', archived]);
  assert.equal(fromGz.status, 0, fromGz.stderr);
  assert.equal(readFileSync(join(archived, 'metrics.csv'), 'utf8'), readFileSync(join(dir, 'metrics.csv'), 'utf8').replace(/\br1\b/g, 'archived'));
  writeFileSync(join(archived, 'metrics.jsonl.gz'), 'not gzip');
  const corrupt = mmrl(['export', archived, '--out', join(parent, 'x.csv')]);
  assert.equal(corrupt.status, 1);
  assert.match(corrupt.stderr, new RegExp(`${join(archived, 'metrics.jsonl.gz').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not a gzip stream`));

  const format = mmrl(['export', dir, '--format', 'xlsx']);
  assert.equal(format.status, 1);
  assert.match(format.stderr, /argument 'xlsx' is invalid/);
});
