import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type MetricsRow = Record<string, number | string | boolean | null>;

/** Appends one JSON object per line to `metrics.jsonl` (flushed per row, so a crash loses nothing logged). */
export class MetricsWriter {
  constructor(readonly file: string | null) {
    if (file) mkdirSync(dirname(file), { recursive: true });
  }

  write(row: MetricsRow): void {
    if (this.file) appendFileSync(this.file, JSON.stringify(row) + '\n');
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
