import { resolve } from 'node:path';
import { archiveAblation, type ArchiveOutcome } from '../ablation/archive.js';

export interface ArchiveOptions {
  out: string;
}

/**
 * `mmrl archive <ablation dir> --out <dir>`: the results archive of an ablation (every finished run's run.json,
 * run-config.json, summary.json, final evaluation and gzip-compressed metrics, no checkpoints; {@link archiveAblation}),
 * for committing beside its report and for a later `mmrl ablate <spec> --reuse <dir>` to take over.
 * @throws Error when the ablation directory has no runs/ or no run of it has finished.
 */
export async function runArchive(dir: string, opts: ArchiveOptions): Promise<ArchiveOutcome> {
  const from = resolve(dir);
  const to = resolve(opts.out);
  if (from === to) throw new Error(`--out ${opts.out}: the archive must be another directory than the ablation's`);
  const outcome = await archiveAblation(from, to);
  if (outcome.archived.length === 0) {
    throw new Error(`${from}: no finished run to archive${outcome.unfinished.length > 0 ? ` (${outcome.unfinished.length} unfinished)` : ''}`);
  }
  console.log(
    `mmrl: ${outcome.archived.length} finished run${outcome.archived.length === 1 ? '' : 's'} archived to ${to} ` +
      `(${(outcome.bytes / 1024).toFixed(0)} kB, no checkpoints)` +
      (outcome.unfinished.length > 0 ? `; left out, not finished: ${outcome.unfinished.join(', ')}` : ''),
  );
  return outcome;
}
