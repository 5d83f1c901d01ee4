import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { writeFileAtomic } from '@mmrl/core';
import { FINAL_EVAL_DIR } from './final-eval.js';
import { RUN_FILES, isFinished, runMetricsFile } from './runner.js';

/**
 * The results archive of an ablation: every finished run's records without its checkpoints, small enough to commit
 * beside the report it backs (`docs/ablation-runs/<name>/`, ~50 kB per 400-step run). A later `mmrl ablate … --reuse
 * <archive>` takes these runs over by config hash exactly as it takes over a full run directory, so an ablation can
 * grow by seeds, or be re-reported, on another machine or in another session without re-running what it already
 * has. What a run keeps: run.json (arm, seed, hash, wall time), run-config.json (the resolved config),
 * summary.json (evaluations before and after RL), metrics.jsonl gzip-compressed (every step's metrics, for the
 * report's curves and mechanism inputs) and final-eval/eval.json (the spec's final evaluation). What it drops: the
 * checkpoints (so an archived run cannot be evaluated again on another number of prompts, and says so), train.log.
 */

/** The files of a run directory an archive keeps verbatim (relative paths). */
export const ARCHIVED_FILES = [RUN_FILES.record, RUN_FILES.config, RUN_FILES.summary, join(FINAL_EVAL_DIR, 'eval.json')] as const;

/**
 * The text of a metrics file: metrics.jsonl as it is, a name ending in `.gz` (an archived run's metrics.jsonl.gz)
 * gunzipped.
 * @throws Error `<file>: not a gzip stream` for a `.gz` that is not; the file system's error when it cannot be read.
 */
export async function readMetricsText(file: string): Promise<string> {
  if (!file.endsWith('.gz')) return readFile(file, 'utf8');
  const bytes = await readFile(file);
  try {
    return gunzipSync(bytes).toString('utf8');
  } catch (e) {
    throw new Error(`${file}: not a gzip stream (${(e as Error).message})`);
  }
}

/**
 * The text of a run's metrics.jsonl, or of its gzip-compressed archived copy (metrics.jsonl.gz) when that is all the
 * run directory holds (a run taken over from a results archive).
 * @returns the text, or undefined when the run has neither file.
 * @throws Error naming the file when metrics.jsonl.gz is not a gzip stream.
 */
export async function readRunMetricsText(runDir: string): Promise<string | undefined> {
  const file = runMetricsFile(runDir);
  return file === undefined ? undefined : readMetricsText(file);
}

/** What {@link archiveAblation} did. */
export interface ArchiveOutcome {
  /** Run directory names archived (finished runs). */
  archived: string[];
  /** Run directory names left out because they have not finished (no after-RL evaluation in summary.json). */
  unfinished: string[];
  /** Bytes written under the archive's runs/. */
  bytes: number;
}

/**
 * Archives the finished runs of an ablation directory (`<out>/<name>`, the directory `mmrl ablate` writes; or a
 * results archive) into `<archive>/runs/<run dir name>/`. Every file is written atomically; a run archived before
 * is overwritten with the same content (its name carries its config hash). The ablation's report.json and report.md
 * are copied too when present.
 * @throws Error when `ablationDir` has no runs/ directory.
 */
export async function archiveAblation(ablationDir: string, archiveDir: string): Promise<ArchiveOutcome> {
  const runsDir = join(ablationDir, 'runs');
  if (!existsSync(runsDir)) throw new Error(`${ablationDir}: no runs/ directory (expected an ablation directory written by mmrl ablate)`);
  const outcome: ArchiveOutcome = { archived: [], unfinished: [], bytes: 0 };
  const entries = (await readdir(runsDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  for (const name of entries) {
    const from = join(runsDir, name);
    if (!(await isFinished(from))) {
      outcome.unfinished.push(name);
      continue;
    }
    const to = join(archiveDir, 'runs', name);
    for (const file of ARCHIVED_FILES) {
      if (!existsSync(join(from, file))) continue;
      const bytes = await readFile(join(from, file));
      await writeFileAtomic(join(to, file), bytes);
      outcome.bytes += bytes.length;
    }
    const metrics = await readRunMetricsText(from);
    if (metrics !== undefined) {
      // mtime 0 in the gzip header (node:zlib writes none): the same metrics give the same bytes, so a re-archive
      // leaves git with nothing to commit.
      const gz = gzipSync(Buffer.from(metrics, 'utf8'), { level: 9 });
      await writeFileAtomic(join(to, RUN_FILES.archivedMetrics), gz);
      outcome.bytes += gz.length;
    }
    outcome.archived.push(name);
  }
  for (const file of ['report.json', 'report.md']) {
    if (existsSync(join(ablationDir, file))) await writeFileAtomic(join(archiveDir, file), await readFile(join(ablationDir, file)));
  }
  return outcome;
}
