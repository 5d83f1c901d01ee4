import { cp, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeJsonAtomic } from '@mmrl/core';
import type { PlannedRun } from './expand.js';
import { RUN_FILES, isFinished, readRunRecord, type RunRecord } from './runner.js';

/** `<arm>-seed<k>-<hash>`: the name of a run directory written by `mmrl ablate`. */
const RUN_DIR_NAME = /^.+-seed(\d+)-([0-9a-f]{10})$/;

/** A finished run of an earlier ablation that a planned run with the same config hash can take over. */
export interface ReusableRun {
  dir: string;
  seed: number;
  hash: string;
}

async function subdirectories(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
  } catch {
    return [];
  }
}

/**
 * Indexes the finished runs under the `--reuse` directories by config hash. Each directory may be a runs directory
 * (`<out>/<name>/runs`), an ablation directory (`<out>/<name>`) or an `--out` directory holding several ablations
 * (`<out>`): run directories are looked for at `dir/*`, `dir/runs/*` and `dir/*\/runs/*`. A run counts when its
 * directory name ends in `-seed<k>-<hash>`, its summary.json has the after-RL evaluation, and its run.json (when
 * present) records the same hash and seed.
 * @returns hash → run (the first found wins; the hash covers the whole validated config, seed included).
 */
export async function indexReusableRuns(dirs: readonly string[]): Promise<Map<string, ReusableRun>> {
  const index = new Map<string, ReusableRun>();
  for (const root of dirs.map((d) => resolve(d))) {
    if (!existsSync(root)) throw new Error(`--reuse ${root}: no such directory`);
    const candidates = [root, join(root, 'runs'), ...(await subdirectories(root)).map((d) => join(d, 'runs'))];
    for (const parent of candidates) {
      for (const dir of await subdirectories(parent)) {
        const m = RUN_DIR_NAME.exec(dir.slice(parent.length + 1));
        if (!m || index.has(m[2]!) || !(await isFinished(dir))) continue;
        const record = await readRunRecord(dir);
        if (record && (record.hash !== m[2] || record.seed !== Number(m[1]))) continue;
        index.set(m[2]!, { dir, seed: Number(m[1]), hash: m[2]! });
      }
    }
  }
  return index;
}

/** The record of a run taken over from an earlier ablation (`run.json`). */
export interface ReusedRunRecord extends RunRecord {
  /** The run directory it was copied from. */
  reusedFrom: string;
}

/**
 * Copies a finished run with the same config hash into the planned run's directory (replacing anything half-done
 * there) and rewrites its run.json for this ablation's arm and levels, keeping the original wall time.
 * @returns the wall-clock seconds of the original run, or null when it did not record them.
 */
export async function reuseRun(run: PlannedRun, source: ReusableRun, dir: string): Promise<number | null> {
  if (source.hash !== run.hash || source.seed !== run.seed) {
    throw new Error(`cannot reuse ${source.dir} for ${run.dirName}: hash or seed differs`);
  }
  await rm(dir, { recursive: true, force: true });
  await cp(source.dir, dir, { recursive: true });
  const original = await readRunRecord(dir);
  const record: ReusedRunRecord = {
    ...(original ?? { command: [], resumed: false, startedAt: new Date().toISOString() }),
    arm: run.arm,
    levels: run.levels,
    seed: run.seed,
    hash: run.hash,
    status: 'completed',
    reusedFrom: source.dir,
  };
  await writeJsonAtomic(join(dir, RUN_FILES.record), record);
  return original?.wallSeconds ?? null;
}
