/** Number formatting and the per-arm table shared by report.md and report.html. */
import type { AblationReport } from './report.js';

/** RL steps at the end of a run whose mean reward the report shows (as the trainer's own `lastReward`). */
export const LAST_STEPS = 10;

/** `52.3%`, or `–`. */
export function percent(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(digits)}%`;
}

/** Percentage points with a sign: `+1.2 pt`. */
export function points(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  const v = 100 * x;
  return `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)} pt`;
}

/** `[51.1, 53.5]` in percent (or percentage points), or `–` when there is no interval. */
export function interval(i: { low: number | null; high: number | null }, signed = false): string {
  if (i.low === null || i.high === null) return '–';
  const f = (v: number) => {
    const p = (100 * v).toFixed(1);
    return signed && v >= 0 ? `+${p}` : p.replace('-', '−');
  };
  return `[${f(i.low)}, ${f(i.high)}]`;
}

/** `3 m 12 s`, `41.2 s`, or `–`. */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} m ${Math.round(seconds - 60 * m)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} m`;
}

/** `0.512` or `–`. */
export function decimal(x: number | null | undefined, digits = 3): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}

/** The rows of the per-arm table (shared by report.md and report.html): header, then one row per arm. */
export function armTable(report: AblationReport): string[][] {
  const level = (report.confidence * 100).toFixed(0);
  const header = [
    'arm',
    ...report.factors.map((f) => f.name),
    'runs',
    'held-out accuracy',
    `${level}% CI`,
    `Δ vs ${report.baseline} (paired)`,
    `${level}% CI of Δ`,
    'before RL',
    `reward (last ${LAST_STEPS} steps)`,
    'tokens/s',
    'wall time / run',
  ];
  const rows = report.arms.map((a) => [
    a.isBaseline ? `${a.label} (baseline)` : a.label,
    ...report.factors.map((f) => a.levels[f.name] ?? ''),
    `${a.runs.completed}/${a.runs.total}${a.runs.failed > 0 ? ` (${a.runs.failed} failed)` : ''}`,
    percent(a.heldOut.n > 0 ? a.heldOut.mean : null),
    interval(a.heldOut),
    a.difference ? (a.difference.n > 0 ? points(a.difference.mean) : '–') : '—',
    a.difference ? interval(a.difference, true) : '—',
    percent(a.beforeRl),
    decimal(a.finalReward.n > 0 ? a.finalReward.mean : null),
    a.tokensPerSecond === null ? '–' : a.tokensPerSecond.toFixed(0),
    duration(a.wallSeconds),
  ]);
  return [header, ...rows];
}
