import { join } from 'node:path';
import { POLICY, RlTrainer, TASK, runSft, writeJsonAtomic, type EvalResult, type MetricsRow } from '@mmrl/core';
import { ProgressDisplay } from '../progress.js';
import { evaluateSession, openSession, pct, type CommonOptions } from '../session.js';

/**
 * `mmrl sft`, `mmrl train` and `mmrl demo` share this: optional SFT warm-up, optional RL, held-out evaluation
 * before and after, final checkpoint and summary.json in the run directory. `mmrl train --resume <run-dir>`
 * continues that run's RL from its training checkpoint, appending to its metrics.jsonl.
 */
export async function runTraining(configPath: string, opts: CommonOptions, phases: { sft: boolean; rl: boolean }): Promise<void> {
  if (opts.resume !== undefined && (phases.sft || !phases.rl)) throw new Error('--resume continues RL training: use it with mmrl train');
  const s = await openSession(configPath, opts);
  const policy = s.container.resolve(POLICY);
  const progress = new ProgressDisplay();
  const onProgress = opts.quiet ? undefined : progress.listener;
  s.log(`policy: ${policy.parameterCount().toLocaleString('en-US')} parameters`);
  const summary: Record<string, unknown> = { backend: s.backend, seed: s.config.seed };
  try {
    if (phases.sft) {
      summary['initial'] = await evaluateSession(s, 'initial');
      const sft = await runSft(
        policy,
        s.container.resolve(TASK),
        { ...s.config.sft, maxGradNorm: s.config.trainer.maxGradNorm, seed: s.config.seed },
        s.metrics,
        onProgress,
      );
      progress.stop();
      s.log(`SFT: ${sft.steps} steps in ${sft.seconds.toFixed(1)} s, final loss ${sft.finalLoss.toFixed(4)}`);
      summary['sft'] = sft;
      await policy.save(join(s.runDir, 'checkpoint-sft'));
    }
    if (phases.rl) {
      // A resumed run evaluated before RL when it started: that row is in its metrics.jsonl.
      const before = s.resume ? previousEvaluation(s.resume.rows, 'before RL') : await evaluateSession(s, 'before RL');
      if (before) summary['beforeRl'] = before;
      if (s.resume) summary['resumedAtStep'] = s.resume.step;
      const trainer = new RlTrainer(s.container, {
        metrics: s.metrics,
        checkpointDir: join(s.runDir, 'checkpoint'),
        ...(s.resume ? { resumeFrom: s.resume.checkpointDir } : {}),
        ...(onProgress ? { onProgress } : {}),
        evaluate: async (step) => {
          const r = await evaluateSession(s, `step ${step}`);
          return { accuracy: r.accuracy, format: r.format };
        },
      });
      const rl = await trainer.train();
      progress.stop();
      s.log(
        `RL: ${rl.steps - rl.startStep} steps${rl.startStep > 0 ? ` (resumed at step ${rl.startStep})` : ''} in ` +
          `${rl.seconds.toFixed(1)} s (${rl.skippedUpdates} updates skipped)`,
      );
      summary['rl'] = rl;
      const after = await evaluateSession(s, 'after RL');
      summary['afterRl'] = after;
      if (before) {
        s.log(
          `held-out accuracy: before RL ${pct(before.accuracy)} → after RL ${pct(after.accuracy)} ` +
            `(${after.accuracy >= before.accuracy ? '+' : ''}${(100 * (after.accuracy - before.accuracy)).toFixed(1)} points; blind baseline ${pct(after.blindBaseline)})`,
        );
      }
    } else {
      summary['final'] = await evaluateSession(s, 'after SFT');
    }
    if (!phases.rl) await policy.save(join(s.runDir, 'checkpoint'));
    await writeJsonAtomic(join(s.runDir, 'summary.json'), summary);
    s.log(`checkpoint: ${join(s.runDir, 'checkpoint')}`);
  } finally {
    progress.stop();
  }
}

/** The evaluation row with this label among a resumed run's metrics rows (the last one), as an EvalResult. */
function previousEvaluation(rows: readonly MetricsRow[], label: string): EvalResult | undefined {
  const row = [...rows].reverse().find((r) => r['phase'] === 'eval' && r['label'] === label);
  if (!row) return undefined;
  const { phase: _phase, label: _label, ...result } = row;
  return result as unknown as EvalResult;
}
