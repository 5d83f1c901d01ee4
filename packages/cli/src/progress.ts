import cliProgress from 'cli-progress';
import type { ProgressEvent, ProgressListener } from '@mmrl/core';

/**
 * A progress display for train/sft phases: a bar with step, mean reward and accuracy on a terminal; a plain line
 * at every tenth of a phase when stderr is not a terminal (CI logs).
 */
export class ProgressDisplay {
  private bar: cliProgress.SingleBar | null = null;
  private phase: string | null = null;

  readonly listener: ProgressListener = (e: ProgressEvent) => {
    if (!process.stderr.isTTY) {
      // Logs (CI, pipes): a plain line at every tenth of the phase; a bar's timer-driven redraws would not run
      // while the train loop keeps the event loop busy.
      const every = Math.max(1, Math.round(e.total / 10));
      if (e.step % every === 0 || e.step === e.total) {
        const values = Object.entries(e.values).map(([k, v]) => `${k} ${fmt(v)}`).join(' | ');
        console.error(`${e.phase.toUpperCase()} step ${e.step}/${e.total} | ${values}`);
      }
      return;
    }
    const payload = {
      phase: e.phase.toUpperCase().padEnd(3),
      loss: fmt(e.values['loss']),
      reward: fmt(e.values['reward']),
      accuracy: fmt(e.values['accuracy']),
    };
    if (this.phase !== e.phase || !this.bar) {
      this.stop();
      this.phase = e.phase;
      const metric = e.phase === 'sft' ? 'loss {loss}' : 'reward {reward} | acc {accuracy}';
      this.bar = new cliProgress.SingleBar(
        {
          format: `{phase} |{bar}| step {value}/{total} | ${metric} | {duration_formatted} (eta {eta_formatted})`,
          noTTYOutput: true,
          notTTYSchedule: 5000,
          hideCursor: true,
          etaBuffer: 20,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(e.total, 0, payload);
    }
    this.bar.update(e.step, payload);
  };

  stop(): void {
    this.bar?.stop();
    this.bar = null;
    this.phase = null;
  }
}

function fmt(v: number | undefined): string {
  return v === undefined || Number.isNaN(v) ? '-' : v.toFixed(3);
}

/** How a run of an ablation ended, for {@link AblationProgress}. */
export type RunOutcome = 'completed' | 'failed' | 'skipped';

/**
 * The progress display of `mmrl ablate`: on a terminal, a bar of finished runs over all runs and one bar of RL steps
 * per running run (fed from the runs' own progress lines); otherwise a plain line on stderr when a run starts,
 * finishes, fails or is skipped as already finished.
 */
export class AblationProgress {
  private multi: cliProgress.MultiBar | null = null;
  private overall: cliProgress.SingleBar | null = null;
  private readonly bars = new Map<string, cliProgress.SingleBar>();
  private done = 0;
  private total = 0;
  private readonly tty = Boolean(process.stderr.isTTY);

  /** Starts the display for `total` runs. */
  start(total: number): void {
    this.total = total;
    this.done = 0;
    if (!this.tty) return;
    this.multi = new cliProgress.MultiBar(
      {
        format: '{name} |{bar}| {value}/{total} {unit} | {status}',
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        autopadding: true,
      },
      cliProgress.Presets.shades_classic,
    );
    this.overall = this.multi.create(total, 0, { name: 'ablation'.padEnd(28), unit: 'runs', status: '' });
  }

  /** A run was skipped (its summary.json exists). */
  skipped(name: string): void {
    this.finish(name, 'skipped', 'already finished');
  }

  /** A run was copied from an earlier ablation's finished run with the same config hash (`--reuse`). */
  reused(name: string, from: string): void {
    this.finish(name, 'skipped', `reused ${from}`);
  }

  /** A run's process started. */
  started(name: string, steps: number): void {
    if (!this.multi) {
      console.error(`ablate: start ${name}`);
      return;
    }
    this.bars.set(name, this.multi.create(Math.max(1, steps), 0, { name: name.slice(0, 28).padEnd(28), unit: 'steps', status: 'starting' }));
  }

  /** A progress line of a running run: `phase` step `step` of `total`. */
  step(name: string, phase: string, step: number, total: number): void {
    const bar = this.bars.get(name);
    if (!bar) return;
    bar.setTotal(Math.max(1, total));
    bar.update(step, { status: phase });
  }

  /** A run finished, failed or was skipped; `detail` is shown with it. */
  finish(name: string, outcome: RunOutcome, detail: string): void {
    this.done++;
    if (!this.multi) {
      const tag = outcome === 'completed' ? 'done' : outcome === 'failed' ? 'FAILED' : 'skip';
      console.error(`ablate: [${this.done}/${this.total}] ${tag} ${name}${detail ? ` (${detail})` : ''}`);
      return;
    }
    const bar = this.bars.get(name);
    if (bar) {
      this.multi.remove(bar);
      this.bars.delete(name);
    }
    if (outcome === 'failed') this.multi.log(`FAILED ${name}: ${detail}\n`);
    this.overall?.update(this.done, { status: `last: ${name} ${outcome}` });
  }

  /** Stops the display (bars stay on screen). */
  stop(): void {
    this.multi?.stop();
    this.multi = null;
    this.overall = null;
    this.bars.clear();
  }
}
