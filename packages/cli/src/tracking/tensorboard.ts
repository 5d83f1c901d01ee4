import { appendFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import type { MetricsRow, MetricsSink } from '@mmrl/core';
import { encodeRecord } from './tfrecord.js';

/**
 * The part of TensorBoard's `Event` and `Summary` messages (tensorboard/compat/proto/event.proto, summary.proto)
 * that scalar curves need, with the upstream field numbers.
 */
const PROTO = `
syntax = "proto3";
package tensorboard;
message Summary {
  message Value {
    string tag = 1;
    oneof value { float simple_value = 2; }
  }
  repeated Value value = 1;
}
message Event {
  double wall_time = 1;
  int64 step = 2;
  oneof what {
    string file_version = 3;
    Summary summary = 5;
  }
}
`;

const EventMessage = protobuf.parse(PROTO, { keepCase: true }).root.lookupType('tensorboard.Event');

/** The first record of every event file: its version (what TensorBoard's own writers put there). */
export const FILE_VERSION = 'brain.Event:2';

/** Sub-directory of a run directory that holds its event files. */
export const TENSORBOARD_DIR = 'tensorboard';

/** Whether a file name is a TensorBoard event file (TensorBoard reads every file whose name contains "tfevents"). */
export const isEventFile = (name: string): boolean => name.includes('tfevents');

/** One scalar: a tag such as `rl/reward_mean` and its value. */
export interface Scalar {
  tag: string;
  value: number;
}

/** Serializes one `Event` (wall time in seconds since the epoch; `step` a non-negative integer). */
export function encodeEvent(event: { wallTime: number; step?: number; fileVersion?: string; scalars?: readonly Scalar[] }): Uint8Array {
  const message: Record<string, unknown> = { wall_time: event.wallTime };
  if (event.step !== undefined) message['step'] = event.step;
  if (event.fileVersion !== undefined) message['file_version'] = event.fileVersion;
  if (event.scalars) message['summary'] = { value: event.scalars.map((s) => ({ tag: s.tag, simple_value: s.value })) };
  return EventMessage.encode(EventMessage.fromObject(message)).finish();
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Numeric fields of a row as `<prefix>/<key>` scalars (strings, booleans, nulls, NaN and `skip` keys left out). */
function scalarsOf(row: MetricsRow, prefix: string, skip: (key: string) => boolean): Scalar[] {
  return Object.entries(row)
    .filter((e): e is [string, number] => isNumber(e[1]) && !skip(e[0]))
    .map(([key, value]) => ({ tag: `${prefix}/${key}`, value }));
}

/**
 * Maps metrics.jsonl rows to TensorBoard scalars on one step axis per phase:
 * - `rl` rows → `rl/<key>` at step `row.step + 1` (RL updates done, as in the ablation report's curves);
 * - `eval` rows → `eval/<key>`: "before RL" at step 0, "step k" at k, "after RL" at the last RL step seen;
 *   "initial" and "after SFT" (the SFT warm-up's evaluations) → `sft_eval/<key>` at 0 and the last SFT step;
 * - `sft` rows → `sft/<key>` at `row.step + 1`; any other phase → `<phase>/<key>` at `row.step` (or 0).
 * The `eval_*` copies that RL rows carry of the periodic evaluation are left to the eval rows. Stateful: rows must
 * come in the order they were written.
 */
export class ScalarMapper {
  private lastRlStep = 0;
  private lastSftStep = 0;

  map(row: MetricsRow): { step: number; scalars: Scalar[] } | undefined {
    const phase = typeof row['phase'] === 'string' ? row['phase'] : 'metrics';
    const rowStep = isNumber(row['step']) ? row['step'] : undefined;
    const skip = (key: string) => key === 'step';
    let step: number;
    let scalars: Scalar[];
    if (phase === 'rl') {
      step = (rowStep ?? this.lastRlStep) + 1;
      this.lastRlStep = Math.max(this.lastRlStep, step);
      scalars = scalarsOf(row, 'rl', (k) => skip(k) || k.startsWith('eval_'));
    } else if (phase === 'sft') {
      step = (rowStep ?? this.lastSftStep) + 1;
      this.lastSftStep = Math.max(this.lastSftStep, step);
      scalars = scalarsOf(row, 'sft', skip);
    } else if (phase === 'eval') {
      const label = typeof row['label'] === 'string' ? row['label'] : '';
      const at = /^step (\d+)$/.exec(label);
      if (label === 'initial' || label === 'after SFT') {
        step = label === 'initial' ? 0 : this.lastSftStep;
        scalars = scalarsOf(row, 'sft_eval', skip);
      } else {
        step = label === 'before RL' ? 0 : at ? Number(at[1]) : this.lastRlStep;
        scalars = scalarsOf(row, 'eval', skip);
      }
    } else {
      step = rowStep ?? 0;
      scalars = scalarsOf(row, phase, skip);
    }
    return scalars.length > 0 ? { step: Math.max(0, Math.round(step)), scalars } : undefined;
  }
}

/**
 * Writes TensorBoard event files: a metrics sink that appends one `Event` record (a `Summary` of `simple_value`
 * scalars) per metrics row to `<dir>/events.out.tfevents.<unix seconds>.<host>.<pid>`, synchronously, so a killed
 * run keeps every curve point it logged. `tensorboard --logdir <dir or any parent>` shows the curves.
 */
export class TensorBoardWriter implements MetricsSink {
  /** The event file written. */
  readonly file: string;
  private readonly mapper = new ScalarMapper();
  private readonly now: () => number;

  /**
   * Creates `dir` and a new event file in it (with its file-version record).
   * @param replace remove the event files already in `dir` first (a resumed run rewrites its curves from the rows
   *   it keeps, so that no point from after its checkpoint survives).
   * @throws the file system's error when `dir` cannot be created or written.
   */
  constructor(
    readonly dir: string,
    options: { replace?: boolean; now?: () => number } = {},
  ) {
    this.now = options.now ?? (() => Date.now() / 1000);
    mkdirSync(dir, { recursive: true });
    if (options.replace) {
      for (const name of readdirSync(dir)) if (isEventFile(name)) rmSync(join(dir, name), { force: true });
    }
    const wallTime = this.now();
    this.file = join(dir, `events.out.tfevents.${Math.floor(wallTime)}.${hostname()}.${process.pid}`);
    appendFileSync(this.file, encodeRecord(encodeEvent({ wallTime, fileVersion: FILE_VERSION })));
  }

  /** Appends the row's scalars as one event (a row without numbers writes nothing). */
  write(row: MetricsRow): void {
    const mapped = this.mapper.map(row);
    if (!mapped) return;
    appendFileSync(this.file, encodeRecord(encodeEvent({ wallTime: this.now(), step: mapped.step, scalars: mapped.scalars })));
  }
}
