import { existsSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { parquetWriteBuffer, type ColumnSource } from 'hyparquet-writer';
import { writeFileAtomic } from '@mmrl/core';
import { readMetricsText } from '../ablation/archive.js';
import { RUN_FILES, runMetricsFile, type RunRecord } from '../ablation/runner.js';

/** Output formats of `mmrl export`. */
export const EXPORT_FORMATS = ['csv', 'parquet'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** A value of a metrics.jsonl field as JSON parsed it (rows written by mmrl hold only scalars and null). */
export type Cell = string | number | boolean | null | object;

/** The long table: column names in order and one row per metrics row, aligned with `columns` (missing → null). */
export interface MetricsTable {
  columns: string[];
  rows: Cell[][];
  /** Runs whose rows the table holds. */
  runs: number;
  /** Ablation runs left out because they have no metrics.jsonl yet (their directory names). */
  skipped: string[];
}

/** The metrics rows of one run and what identifies the run in the table. */
export interface RunMetrics {
  /** The run directory's name. */
  run: string;
  /** Ablation runs only: the arm label and seed from the run's run.json (null when it has none). */
  arm?: string | null;
  seed?: number | null;
  rows: Record<string, Cell>[];
}

/**
 * Reads a metrics.jsonl file, or its gzip-compressed copy in a results archive (a name ending in `.gz`): one JSON
 * object per line, blank lines ignored.
 * @throws Error `<file>:<line>: …` for a line that is not a JSON object, `<file>: not a gzip stream` for a `.gz` that
 *   is not; the file system's error when it cannot be read.
 */
export async function readMetricsFile(file: string): Promise<Record<string, Cell>[]> {
  const text = await readMetricsText(file);
  const rows: Record<string, Cell>[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new Error(`${file}:${i + 1}: malformed metrics row: ${(e as Error).message}`);
    }
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      throw new Error(`${file}:${i + 1}: malformed metrics row: expected a JSON object, got ${JSON.stringify(row).slice(0, 40)}`);
    }
    rows.push(row as Record<string, Cell>);
  });
  return rows;
}

const isDirectory = (path: string): boolean => existsSync(path) && statSync(path).isDirectory();

/**
 * The runs under `dir`: the run itself when `dir` holds a metrics.jsonl (a run directory), else every
 * `dir/runs/<run>/metrics.jsonl` of an ablation directory or results archive (metrics.jsonl.gz, `mmrl archive`), in run-directory name order, each with the arm and seed
 * of its run.json. Ablation runs without metrics.jsonl (not started yet) are listed in `skipped`.
 * @throws Error naming `dir` when it is not a directory, holds neither metrics.jsonl nor runs/, or none of its runs
 *   has a metrics.jsonl; {@link readMetricsFile}'s errors.
 */
export async function collectRunMetrics(dir: string): Promise<{ ablation: boolean; runs: RunMetrics[]; skipped: string[] }> {
  if (!isDirectory(dir)) throw new Error(`${dir}: ${existsSync(dir) ? 'not a directory' : 'no such directory'}`);
  const metrics = runMetricsFile(dir);
  if (metrics !== undefined) {
    return { ablation: false, runs: [{ run: basename(dir), rows: await readMetricsFile(metrics) }], skipped: [] };
  }
  const runsDir = join(dir, 'runs');
  if (!isDirectory(runsDir)) {
    throw new Error(
      `${dir} is neither a run directory (no ${RUN_FILES.metrics}) nor an ablation directory (no runs/ directory)`,
    );
  }
  const names = (await readdir(runsDir, { withFileTypes: true }))
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const runs: RunMetrics[] = [];
  const skipped: string[] = [];
  for (const name of names) {
    const runDir = join(runsDir, name);
    const file = runMetricsFile(runDir);
    if (file === undefined) {
      skipped.push(name);
      continue;
    }
    const record = await readRecord(join(runDir, RUN_FILES.record));
    runs.push({
      run: name,
      arm: typeof record?.arm === 'string' ? record.arm : null,
      seed: typeof record?.seed === 'number' ? record.seed : null,
      rows: await readMetricsFile(file),
    });
  }
  if (runs.length === 0) throw new Error(`no run in ${runsDir} has a ${RUN_FILES.metrics} yet`);
  return { ablation: true, runs, skipped };
}

/** A run's run.json, or undefined when it has none. @throws Error naming the file when it is not valid JSON. */
async function readRecord(file: string): Promise<Partial<RunRecord> | undefined> {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Partial<RunRecord>;
  } catch (e) {
    throw new Error(`${file}: malformed run record: ${(e as Error).message}`);
  }
}

/**
 * One long table of every run's metrics rows: columns `run` (and `arm`, `seed` for an ablation), then every key of
 * the rows in first-seen order; a key a row lacks is null. A metrics key that equals one of the identifying columns
 * becomes `metric_<key>`.
 */
export function metricsTable(runs: readonly RunMetrics[], ablation: boolean): Omit<MetricsTable, 'skipped'> {
  const ids = ablation ? ['run', 'arm', 'seed'] : ['run'];
  const rename = (key: string) => (ids.includes(key) ? `metric_${key}` : key);
  const keys = new Map<string, number>();
  for (const run of runs) {
    for (const row of run.rows) {
      for (const key of Object.keys(row)) {
        const name = rename(key);
        if (!keys.has(name)) keys.set(name, ids.length + keys.size);
      }
    }
  }
  const columns = [...ids, ...keys.keys()];
  const rows = runs.flatMap((run) =>
    run.rows.map((row) => {
      const out: Cell[] = new Array<Cell>(columns.length).fill(null);
      out[0] = run.run;
      if (ablation) {
        out[1] = run.arm ?? null;
        out[2] = run.seed ?? null;
      }
      for (const [key, value] of Object.entries(row)) out[keys.get(rename(key))!] = value ?? null;
      return out;
    }),
  );
  return { columns, rows, runs: runs.length };
}

/**
 * The table as CSV (RFC 4180, via csv-stringify): a header row, then the rows; null as an empty field, booleans as
 * `true`/`false`, numbers as JavaScript prints them (shortest round-trip form), objects as JSON.
 */
export function toCsv(table: Pick<MetricsTable, 'columns' | 'rows'>): string {
  return stringify([table.columns, ...table.rows], { cast: { boolean: (v) => String(v) } });
}

/**
 * The parquet column for one table column, typed by its non-null values: all booleans → BOOLEAN; all numbers →
 * DOUBLE, except the index columns {@link INTEGER_COLUMNS} (`step`, `seed`), INT64 when every value is a safe integer
 * (JSON does not tell `1.0` from `1`, so typing other columns by their values would give one metric different types
 * in two exports); all strings → UTF8 string; none (only nulls) → DOUBLE (a NaN metric is written to JSON as null);
 * a mix → UTF8 strings, non-strings as JSON. Every column is nullable.
 */
/** Columns written as INT64 (when all their values are integers): the step and seed indices. */
export const INTEGER_COLUMNS: ReadonlySet<string> = new Set(['step', 'seed']);

export function parquetColumn(name: string, values: readonly Cell[]): ColumnSource {
  const present = values.filter((v) => v !== null);
  if (present.every((v) => typeof v === 'boolean') && present.length > 0) {
    return { name, type: 'BOOLEAN', data: values.slice() as (boolean | null)[] };
  }
  if (present.every((v) => typeof v === 'number')) {
    if (INTEGER_COLUMNS.has(name) && present.length > 0 && present.every((v) => Number.isSafeInteger(v))) {
      return { name, type: 'INT64', data: values.map((v) => (v === null ? null : BigInt(v as number))) };
    }
    return { name, type: 'DOUBLE', data: values.slice() as (number | null)[] };
  }
  return {
    name,
    type: 'STRING',
    data: values.map((v) => (v === null ? null : typeof v === 'string' ? v : JSON.stringify(v))),
  };
}

/** The table as a Parquet file (one row group per 100,000 rows, snappy pages; column types: {@link parquetColumn}). */
export function toParquet(table: Pick<MetricsTable, 'columns' | 'rows'>): Uint8Array {
  const columnData = table.columns.map((name, j) => parquetColumn(name, table.rows.map((row) => row[j] ?? null)));
  return new Uint8Array(parquetWriteBuffer({ columnData, rowGroupSize: 100_000, createdBy: 'mmrl export' }));
}

export interface ExportOptions {
  format?: string;
  out?: string;
}

/**
 * `mmrl export <dir> [--format csv|parquet] [--out file]`: the metrics.jsonl rows of a run directory, or of every run
 * of an ablation directory, as one long table (see {@link metricsTable}), written atomically to `--out` (default
 * `<dir>/metrics.<format>`). Without `--format`, an `--out` ending in `.parquet` selects Parquet, anything else CSV.
 * @throws Error for an unknown format and {@link collectRunMetrics}'s errors.
 */
export async function runExport(dir: string, opts: ExportOptions = {}): Promise<MetricsTable & { file: string; format: ExportFormat }> {
  const format = (opts.format ?? (opts.out !== undefined && extname(opts.out) === '.parquet' ? 'parquet' : 'csv')) as ExportFormat;
  if (!EXPORT_FORMATS.includes(format)) throw new Error(`unknown format "${format}" (csv or parquet)`);
  const root = resolve(dir);
  const { ablation, runs, skipped } = await collectRunMetrics(root);
  const table = metricsTable(runs, ablation);
  const file = resolve(opts.out ?? join(root, `metrics.${format}`));
  await writeFileAtomic(file, format === 'csv' ? toCsv(table) : toParquet(table));
  console.log(
    `mmrl: ${table.rows.length} rows × ${table.columns.length} columns from ${table.runs} run${table.runs === 1 ? '' : 's'} written to ${file}` +
      (skipped.length > 0 ? ` (no metrics.jsonl yet, left out: ${skipped.join(', ')})` : ''),
  );
  return { ...table, skipped, file, format };
}
