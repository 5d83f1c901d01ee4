import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type MetricsRow = Record<string, number | string | boolean | null>;

/** Another destination for every metrics row (e.g. TensorBoard event files), written right after metrics.jsonl. */
export interface MetricsSink {
  write(row: MetricsRow): void;
}

/**
 * Appends one JSON object per line to `metrics.jsonl` (flushed per row, so a crash loses nothing logged), and hands
 * each row to the `sinks` in order.
 */
export class MetricsWriter {
  constructor(
    readonly file: string | null,
    private readonly sinks: readonly MetricsSink[] = [],
  ) {
    if (file) mkdirSync(dirname(file), { recursive: true });
  }

  write(row: MetricsRow): void {
    if (this.file) appendFileSync(this.file, JSON.stringify(row) + '\n');
    for (const sink of this.sinks) sink.write(row);
  }
}

/** Progress events for a display (the CLI's progress bar). */
export interface ProgressEvent {
  phase: 'sft' | 'rl' | 'eval';
  step: number;
  total: number;
  values: Record<string, number>;
}
export type ProgressListener = (event: ProgressEvent) => void;
