import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '@mmrl/core';
import { readRunMetricsText } from './archive.js';
import { evaluateClaim, powerLine, type ClaimReport } from './claims.js';
import type { AblationPlan } from './expand.js';
import { armTable, decimal, duration, interval, LAST_STEPS, percent, points } from './format.js';
import { FINAL_EVAL_DIR, type FinalEvalOutcome } from './final-eval.js';
import { renderHtmlReport } from './report-html.js';
import { RUN_FILES, type RunResult } from './runner.js';
import { meanOf, pairedDifference, tInterval, type PairedDifference, type TInterval } from './stats.js';

/** Confidence level of every interval in the report. */
export const CONFIDENCE = 0.95;


/** One run in the report. */
export interface RunReport {
  arm: string;
  levels: Record<string, string>;
  seed: number;
  hash: string;
  /** The run directory, relative to the ablation directory. */
  dir: string;
  /** `completed` also covers runs finished by an earlier invocation. */
  status: 'completed' | 'failed';
  /** This invocation skipped the run because it had finished before. */
  skipped: boolean;
  /** Copied from an earlier ablation's finished run with the same config hash (`--reuse`): that run's directory. */
  reusedFrom?: string;
  /**
   * Held-out greedy accuracy after RL, the figure the arms are compared on: the final evaluation's
   * (`final-eval/eval.json`) when the spec has `finalEval`, else the run's own (summary.json `afterRl.accuracy`).
   */
  heldOutAccuracy: number | null;
  /** The run's own after-RL evaluation on its config's `eval.prompts` (summary.json `afterRl.accuracy`). */
  runHeldOutAccuracy: number | null;
  /** Held-out accuracy before RL (summary.json `beforeRl.accuracy`). */
  beforeRlAccuracy: number | null;
  /** Best answer from the question alone. */
  blindBaseline: number | null;
  /** Mean `reward_mean` of the last {@link LAST_STEPS} RL steps. */
  finalReward: number | null;
  /** Tokens per second: the metrics' own figure when they have one, else response tokens over step time. */
  tokensPerSecond: number | null;
  tokensPerSecondSource: 'metrics' | 'response tokens / step time' | null;
  /** Wall-clock seconds of the run's process. */
  wallSeconds: number | null;
  /** RL training seconds reported by the run (summary.json `rl.seconds`). */
  rlSeconds: number | null;
  /** For a failed run: the reason and the error log (relative to the ablation directory). */
  error?: string;
  errorLog?: string;
}

/** Per-step means over an arm's completed runs. */
export interface ArmCurves {
  /** RL steps (1-based: the state after that many updates). */
  steps: number[];
  /** Mean rollout reward at each step. */
  reward: (number | null)[];
  /** Mean rollout accuracy at each step. */
  accuracy: (number | null)[];
  /** Held-out accuracy: before RL (step 0), at `trainer.evalEvery` steps, after RL. */
  heldOut: { step: number; accuracy: number }[];
}

/** One arm in the report. */
export interface ArmReport {
  label: string;
  levels: Record<string, string>;
  isBaseline: boolean;
  runs: { total: number; completed: number; failed: number };
  /** Held-out accuracy after RL over the completed seeds: mean and t-interval. */
  heldOut: TInterval;
  /** Mean held-out accuracy before RL. */
  beforeRl: number | null;
  /** Arm − baseline, paired by seed (null for the baseline itself). */
  difference: PairedDifference | null;
  /** Mean reward of the last steps, over seeds. */
  finalReward: TInterval;
  tokensPerSecond: number | null;
  /** Mean wall-clock seconds per run. */
  wallSeconds: number | null;
  curves: ArmCurves;
}

/** report.json. */
export interface AblationReport {
  name: string;
  description?: string;
  /** The spec file, the base config (a path, or "inline"). */
  spec: string;
  base: string;
  generatedAt: string;
  confidence: number;
  /**
   * Where `heldOutAccuracy` comes from: the runs' own after-RL evaluation, or the spec's final evaluation of every
   * run's final checkpoint on `prompts` held-out test prompts.
   */
  evaluation: { source: 'run' } | { source: 'final-eval'; prompts: number };
  seeds: number[];
  baseline: string;
  factors: { name: string; levels: string[] }[];
  arms: ArmReport[];
  /** The spec's claims with their computed verdicts and power (empty when the spec lists none). */
  claims: ClaimReport[];
  runs: RunReport[];
  summary: { runs: number; completed: number; failed: number; skipped: number; reused: number };
}

interface MetricsRowLike {
  phase?: string;
  step?: number;
  [key: string]: unknown;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Reads metrics.jsonl, or an archived run's metrics.jsonl.gz (an unreadable file or line yields nothing). */
async function readMetrics(dir: string): Promise<MetricsRowLike[]> {
  let text: string | undefined;
  try {
    text = await readRunMetricsText(dir);
  } catch {
    return [];
  }
  if (text === undefined) return [];
  const rows: MetricsRowLike[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      rows.push(JSON.parse(line) as MetricsRowLike);
    } catch {
      /* a line cut by a crash */
    }
  }
  return rows;
}

/** Tokens per second from RL metrics rows: a logged rate when present, else Σ response tokens / Σ step seconds. */
export function tokensPerSecond(rows: readonly MetricsRowLike[]): { value: number | null; source: RunReport['tokensPerSecondSource'] } {
  const logged = meanOf(rows.map((r) => num(r['tokens_per_s'] ?? r['tokens_per_second'])));
  if (logged !== null) return { value: logged, source: 'metrics' };
  let tokens = 0;
  let seconds = 0;
  for (const r of rows) {
    const length = num(r['response_length_mean']);
    const n = num(r['trajectories']);
    const s = num(r['step_s']);
    if (length === null || n === null || s === null) continue;
    tokens += length * n;
    seconds += s;
  }
  return seconds > 0 ? { value: tokens / seconds, source: 'response tokens / step time' } : { value: null, source: null };
}

/** What the report needs from one run directory. */
interface RunData {
  report: RunReport;
  rl: MetricsRowLike[];
  /** Held-out accuracy points of the run (step → accuracy). */
  heldOut: { step: number; accuracy: number }[];
}

async function readRun(result: RunResult, ablationDir: string, finalEval: FinalEvalOutcome | undefined): Promise<RunData> {
  const { run, dir } = result;
  const base: RunReport = {
    arm: run.arm,
    levels: run.levels,
    seed: run.seed,
    hash: run.hash,
    dir: relative(ablationDir, dir),
    status: result.status === 'failed' ? 'failed' : 'completed',
    skipped: result.status === 'skipped',
    ...(result.reusedFrom ? { reusedFrom: result.reusedFrom } : {}),
    heldOutAccuracy: null,
    runHeldOutAccuracy: null,
    beforeRlAccuracy: null,
    blindBaseline: null,
    finalReward: null,
    tokensPerSecond: null,
    tokensPerSecondSource: null,
    wallSeconds: result.wallSeconds,
    rlSeconds: null,
  };
  if (result.status === 'failed') {
    return {
      report: { ...base, error: result.error ?? 'failed', errorLog: relative(ablationDir, join(dir, RUN_FILES.error)) },
      rl: [],
      heldOut: [],
    };
  }
  if (finalEval && 'error' in finalEval) {
    return {
      report: { ...base, status: 'failed', error: finalEval.error, errorLog: relative(ablationDir, join(dir, FINAL_EVAL_DIR, 'error.log')) },
      rl: [],
      heldOut: [],
    };
  }
  const summary = JSON.parse(await readFile(join(dir, RUN_FILES.summary), 'utf8')) as {
    afterRl?: { accuracy?: number; blindBaseline?: number };
    beforeRl?: { accuracy?: number };
    rl?: { seconds?: number; steps?: number };
  };
  const rows = await readMetrics(dir);
  const rl = rows.filter((r) => r.phase === 'rl' && typeof r.step === 'number');
  const last = rl.slice(-LAST_STEPS);
  const tps = tokensPerSecond(rl);
  const steps = num(summary.rl?.steps) ?? rl.length;
  const heldOut: { step: number; accuracy: number }[] = [];
  const before = num(summary.beforeRl?.accuracy);
  if (before !== null) heldOut.push({ step: 0, accuracy: before });
  for (const r of rl) {
    const a = num(r['eval_accuracy']);
    if (a !== null) heldOut.push({ step: r.step! + 1, accuracy: a });
  }
  const after = num(summary.afterRl?.accuracy);
  if (after !== null) heldOut.push({ step: steps, accuracy: after });
  return {
    report: {
      ...base,
      heldOutAccuracy: finalEval ? finalEval.result.accuracy : after,
      runHeldOutAccuracy: after,
      beforeRlAccuracy: before,
      blindBaseline: num(summary.afterRl?.blindBaseline),
      finalReward: meanOf(last.map((r) => num(r['reward_mean']))),
      tokensPerSecond: tps.value,
      tokensPerSecondSource: tps.source,
      rlSeconds: num(summary.rl?.seconds),
    },
    rl,
    heldOut,
  };
}

/** Per-step means of a metric over runs. */
function curve(runs: readonly RunData[], key: string, steps: readonly number[]): (number | null)[] {
  return steps.map((s) => meanOf(runs.map((r) => num(r.rl.find((row) => row.step === s - 1)?.[key]))));
}

/**
 * Builds the report from the run directories: per arm the held-out accuracy's mean and Student t-interval over
 * seeds, the paired difference to the baseline arm (by seed), the final reward, tokens/s, wall time and the reward
 * and accuracy curves; per run the same figures. Failed runs are listed and left out of the statistics.
 * @param finalEvals with the spec's `finalEval`: the outcome of each run's final evaluation by run directory
 *   ({@link runFinalEvaluations}); the arms are then compared on it, and a run whose final evaluation failed counts
 *   as failed.
 */
export async function buildReport(
  plan: AblationPlan,
  results: readonly RunResult[],
  ablationDir: string,
  finalEvals?: ReadonlyMap<string, FinalEvalOutcome>,
): Promise<AblationReport> {
  const { spec } = plan;
  if (spec.finalEval && !finalEvals) throw new Error(`${spec.file}: the spec has finalEval, but no final evaluations were given to the report`);
  const data = await Promise.all(
    results.map((r) =>
      readRun(r, ablationDir, spec.finalEval && r.status !== 'failed' ? (finalEvals!.get(r.dir) ?? { error: 'no final evaluation was run' }) : undefined),
    ),
  );
  const completedBy = (arm: string) => data.filter((d) => d.report.arm === arm && d.report.status === 'completed');
  const accuracyBySeed = (arm: string) =>
    new Map(completedBy(arm).flatMap((d) => (d.report.heldOutAccuracy === null ? [] : [[d.report.seed, d.report.heldOutAccuracy] as const])));
  const baselineAccuracy = accuracyBySeed(spec.baseline);
  const arms: ArmReport[] = plan.arms.map((arm) => {
    const all = data.filter((d) => d.report.arm === arm.label);
    const done = completedBy(arm.label);
    const byStep = [...new Set(done.flatMap((d) => d.rl.map((r) => r.step! + 1)))].sort((a, b) => a - b);
    const heldOutSteps = [...new Set(done.flatMap((d) => d.heldOut.map((h) => h.step)))].sort((a, b) => a - b);
    const isBaseline = arm.label === spec.baseline;
    return {
      label: arm.label,
      levels: arm.levels,
      isBaseline,
      runs: { total: all.length, completed: done.length, failed: all.length - done.length },
      heldOut: tInterval(
        done.map((d) => d.report.heldOutAccuracy).filter((v): v is number => v !== null),
        CONFIDENCE,
      ),
      beforeRl: meanOf(done.map((d) => d.report.beforeRlAccuracy)),
      difference: isBaseline ? null : pairedDifference(accuracyBySeed(arm.label), baselineAccuracy, CONFIDENCE),
      finalReward: tInterval(
        done.map((d) => d.report.finalReward).filter((v): v is number => v !== null),
        CONFIDENCE,
      ),
      tokensPerSecond: meanOf(done.map((d) => d.report.tokensPerSecond)),
      wallSeconds: meanOf(all.map((d) => d.report.wallSeconds)),
      curves: {
        steps: byStep,
        reward: curve(done, 'reward_mean', byStep),
        accuracy: curve(done, 'accuracy_mean', byStep),
        heldOut: heldOutSteps.map((step) => ({
          step,
          accuracy: meanOf(done.map((d) => d.heldOut.find((h) => h.step === step)?.accuracy))!,
        })),
      },
    };
  });
  const runs = data.map((d) => d.report);
  return {
    name: spec.name,
    ...(spec.description !== undefined ? { description: spec.description } : {}),
    spec: spec.file,
    base: spec.base.kind === 'file' ? spec.base.file : 'inline',
    generatedAt: new Date().toISOString(),
    confidence: CONFIDENCE,
    evaluation: spec.finalEval ? { source: 'final-eval', prompts: spec.finalEval.prompts } : { source: 'run' },
    seeds: spec.seeds,
    baseline: spec.baseline,
    factors: spec.factors.map((f) => ({ name: f.name, levels: f.levels.map((l) => l.label) })),
    arms,
    claims: spec.claims.map((c) => evaluateClaim(c, accuracyBySeed, CONFIDENCE)),
    runs,
    summary: {
      runs: runs.length,
      completed: runs.filter((r) => r.status === 'completed').length,
      failed: runs.filter((r) => r.status === 'failed').length,
      skipped: runs.filter((r) => r.skipped).length,
      reused: runs.filter((r) => r.reusedFrom !== undefined).length,
    },
  };
}

const mdCell = (s: string) => s.replace(/\|/g, '\\|');

/** A run's status for report.md. */
function runStatus(r: RunReport): string {
  if (r.status === 'failed') return '**failed**';
  if (r.reusedFrom) return 'completed (reused)';
  return r.skipped ? 'completed (earlier)' : 'completed';
}

/** The verdict as report.md shows it. */
const VERDICT_MD: Record<ClaimReport['verdict'], string> = {
  reproduced: '**reproduced**',
  opposite: '**opposite**',
  inconclusive: 'inconclusive',
};

/** report.md's claims: a table of verdicts, then each claim's power line. */
function claimsSection(report: AblationReport): string[] {
  if (report.claims.length === 0) return [];
  const level = (report.confidence * 100).toFixed(0);
  return [
    '',
    '## Claims',
    '',
    `Each claim: held-out accuracy of \`better\` − \`worse\`, paired by seed. *Reproduced* when the ${level}% interval of ` +
      'the mean difference lies above 0, *opposite* when it lies below 0, *inconclusive* otherwise. Power: the smallest ' +
      `true difference a two-sided paired t-test at α = ${(1 - report.confidence).toFixed(2)} detects with probability ` +
      `${report.claims[0]!.power.power} at the observed sd, (t₁₋α/₂,ₙ₋₁ + t_power,ₙ₋₁)·s/√n, and the seeds needed for the ` +
      "claim's `effect` (else the observed difference).",
    '',
    `| claim | source | seeds | Δ (better − worse) | ${level}% CI of Δ | verdict | smallest detectable Δ | seeds needed |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...report.claims.map(
      (c) =>
        `| ${mdCell(c.better)} > ${mdCell(c.worse)} | ${mdCell(c.source ?? '–')} | ${c.difference.n} | ` +
        `${c.difference.n > 0 ? points(c.difference.mean) : '–'} | ${interval(c.difference, true)} | ${VERDICT_MD[c.verdict]} | ` +
        `${c.power.identical ? 'identical arms' : c.power.minDetectable === null ? '–' : `${(100 * c.power.minDetectable).toFixed(1)} pt`} | ` +
        `${c.power.seedsNeeded === null || c.power.identical ? '–' : `${c.power.seedsNeeded}${c.power.effectSource === 'claim' ? ' (claimed effect)' : ' (observed Δ)'}`} |`,
    ),
    '',
    ...report.claims.map((c) => `- ${mdCell(c.better)} > ${mdCell(c.worse)}${c.source ? ` (${c.source})` : ''}: ${c.verdict}. ${powerLine(c.power)}`),
  ];
}

/** Where the compared accuracy comes from, as a clause of report.md's method sentence. */
function evaluationNote(report: AblationReport): string {
  return report.evaluation.source === 'final-eval'
    ? ` (the final checkpoint of each run evaluated on ${report.evaluation.prompts.toLocaleString('en-US')} held-out test prompts, the spec's \`finalEval\`; the runs' own after-RL evaluation is listed per run)`
    : '';
}

/** report.md: the per-arm table, the statistics used, and every run (failed ones with their error log). */
export function renderMarkdownReport(report: AblationReport): string {
  const [header, ...rows] = armTable(report);
  const finalEval = report.evaluation.source === 'final-eval';
  const level = (report.confidence * 100).toFixed(0);
  const lines = [
    `# Ablation ${report.name}`,
    '',
    ...(report.description ? [report.description, ''] : []),
    `Spec \`${report.spec}\`, base \`${report.base}\`, seeds ${report.seeds.join(', ')}, baseline arm \`${report.baseline}\`. ` +
      `${report.summary.completed} of ${report.summary.runs} runs completed` +
      `${report.summary.failed > 0 ? `, **${report.summary.failed} failed**` : ''}` +
      `${report.summary.skipped > 0 ? ` (${report.summary.skipped} finished earlier and skipped)` : ''}` +
      `${report.summary.reused > 0 ? `; ${report.summary.reused} were copied from finished runs of other ablations with the same config hash (\`--reuse\`)` : ''}.`,
    '',
    `Held-out accuracy: greedy pass@1 on test images after RL${evaluationNote(report)}, mean over seeds with the ${level}% Student t-interval ` +
      `(mean ± t₀.₉₇₅,ₙ₋₁·s/√n). Δ: arm − baseline paired by seed, with the t-interval of the mean difference. ` +
      `Reward: mean rollout reward of the last ${LAST_STEPS} RL steps. Tokens/s: as logged, else response tokens per second of RL step time.`,
    '',
    `| ${header!.map(mdCell).join(' | ')} |`,
    `| ${header!.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(mdCell).join(' | ')} |`),
    ...claimsSection(report),
    '',
    '## Runs',
    '',
    `| arm | seed | hash | status | held-out accuracy | ${finalEval ? "run's own eval | " : ''}before RL | reward | tokens/s | wall time | directory |`,
    `| --- | --- | --- | --- | --- | ${finalEval ? '--- | ' : ''}--- | --- | --- | --- | --- |`,
    ...report.runs.map(
      (r) =>
        `| ${mdCell(r.arm)} | ${r.seed} | \`${r.hash}\` | ${runStatus(r)} | ` +
        `${percent(r.heldOutAccuracy)} | ${finalEval ? `${percent(r.runHeldOutAccuracy)} | ` : ''}${percent(r.beforeRlAccuracy)} | ${decimal(r.finalReward)} | ` +
        `${r.tokensPerSecond === null ? '–' : r.tokensPerSecond.toFixed(0)} | ${duration(r.wallSeconds)} | \`${mdCell(r.dir)}\` |`,
    ),
  ];
  const failed = report.runs.filter((r) => r.status === 'failed');
  if (failed.length > 0) {
    lines.push('', '## Failed runs', '');
    for (const r of failed) lines.push(`- \`${r.dir}\`: ${r.error ?? 'failed'} (log: \`${r.errorLog}\`)`);
  }
  return `${lines.join('\n')}\n`;
}

/** Writes report.json, report.md and report.html into the ablation directory; returns their paths. */
export async function writeReports(report: AblationReport, ablationDir: string): Promise<{ json: string; markdown: string; html: string }> {
  const files = {
    json: join(ablationDir, 'report.json'),
    markdown: join(ablationDir, 'report.md'),
    html: join(ablationDir, 'report.html'),
  };
  await writeJsonAtomic(files.json, report);
  await writeFileAtomic(files.markdown, renderMarkdownReport(report));
  await writeFileAtomic(files.html, await renderHtmlReport(report));
  return files;
}
