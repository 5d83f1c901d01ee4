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
