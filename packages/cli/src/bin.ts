#!/usr/bin/env node
import { Command, Option } from 'commander';
import { MmrlConfigError, BACKENDS } from '@mmrl/core';
import { runTraining } from './commands/train.js';
import { runExpertGenerate } from './commands/expert-generate.js';
import { runVisualFocus } from './commands/visual-focus.js';
import { runEval } from './commands/eval.js';
import { runValidate } from './commands/validate.js';
import { runPlugins } from './commands/plugins.js';
import { runSchema } from './commands/schema.js';
import { runAblate } from './commands/ablate.js';
import { runInitPlugin } from './commands/init-plugin.js';
import { EXPORT_FORMATS, runExport } from './commands/export.js';
import { runArchive } from './commands/archive.js';
import { collect } from './registry.js';

const program = new Command();
program
  .name('mmrl')
  .description('Reinforcement learning with verifiable rewards for multimodal policies, composed from strategies by config.')
  .version('0.1.0')
  .showHelpAfterError();

/** `--plugin <specifier>` (repeatable): a third-party plugin module to load besides the config's `plugins`. */
const withPluginOption = (cmd: Command) =>
  cmd.option(
    '--plugin <specifier>',
    'load a plugin module (npm package name or path relative to the working directory); repeatable',
    collect,
    [] as string[],
  );

const withRunOptions = (cmd: Command) =>
  withPluginOption(cmd)
    .option('--seed <n>', 'override the config seed')
    .addOption(new Option('--backend <name>', 'override runtime.backend').choices([...BACKENDS]))
    .option('--threads <n>', 'override runtime.threads (wasm threads: 1-8 or auto)')
    .option('--out <dir>', 'parent directory of the run directory (default: output.dir of the config)')
    .option('--name <name>', 'run directory name (default: timestamp and seed)')
    .option('--checkpoint <dir>', 'start from this policy checkpoint (overrides init.checkpoint)')
    .option('--tensorboard', 'also write TensorBoard event files to <run>/tensorboard/ (as output.tensorboard: true)')
    .option('--quiet', 'no progress display');

withRunOptions(program.command('demo').description('SFT warm-up on oracle traces, then RL; held-out accuracy before and after'))
  .argument('<config>', 'config file (YAML or JSON)')
  .action((config: string, opts) => runTraining(config, opts, { sft: true, rl: true }));

withRunOptions(program.command('sft').description('supervised warm-up on the task oracle traces (config sft section)'))
  .argument('<config>', 'config file (YAML or JSON)')
  .action((config: string, opts) => runTraining(config, opts, { sft: true, rl: false }));

withRunOptions(program.command('train').description('RL training (config trainer section), from init.checkpoint or --checkpoint'))
  .argument('<config>', 'config file (YAML or JSON)')
  .option(
    '--resume <run-dir>',
    'continue the run in <run-dir> from its training checkpoint (<run-dir>/checkpoint), appending to its metrics.jsonl',
  )
  .action((config: string, opts) => runTraining(config, opts, { sft: false, rl: true }));

withRunOptions(program.command('eval').description('held-out greedy pass@1 on test images'))
  .argument('<config>', 'config file (YAML or JSON)')
  .option('--json', 'print the result as JSON')
  .option('--prompts <n>', 'held-out test prompts (overrides eval.prompts)')
  .option('--samples <n>', 'samples per prompt for pass@k (overrides eval.samples; 0 = greedy only)')
  .option('--extrapolate-base <dir>', 'Δlog p test-time extrapolation: also evaluate decoding extrapolated away from this base checkpoint')
  .option('--extrapolate-alpha <a>', 'extrapolation strength a: logits (1 + a)·ℓRL − a·ℓbase (default 0.05)')
  .option('--extrapolate-tau <t>', 'extrapolate where ℓRL(o) − ℓbase(o) ≤ τ, o the base arg-max (default −0.3)')
  .option('--extrapolate-top-k <k>', "candidates: the base model's top-k tokens (default 50)")
  .action((config: string, opts) => runEval(config, opts));

withPluginOption(
  program
    .command('visual-focus')
    .description(
      "visual dependence of a policy's sampled responses by token position after the description (VGPO's cosine, ToR's image-ablation |Δ log p|), with the slope over the reasoning",
    ),
)
  .argument('<config>', 'config file (YAML or JSON): task, policy and init.checkpoint')
  .option('--checkpoint <dir>', 'policy checkpoint (overrides init.checkpoint)')
  .option('--prompts <n>', 'held-out test prompts', '64')
  .option('--samples <n>', 'responses sampled per prompt', '4')
  .option('--bin <n>', 'reasoning positions per table row', '10')
  .option('--temperature <t>', 'sampling temperature (and of the logprobs)', '1')
  .option('--seed <n>', 'seed of the prompts and the sampling', '1')
  .option('--json <file>', 'also write every number as JSON')
  .action((config: string, opts) => runVisualFocus(config, opts));

withPluginOption(
  program
    .command('expert-generate')
    .description("write pre-generated expert trajectories (JSONL) for the config's RL prompt pool, for the TGRL `expert` source"),
)
  .argument('<config>', 'config file (YAML or JSON)')
  .requiredOption('--out <file>', 'the JSONL file to write (atomically)')
  .option('--checkpoint <dir>', "expert vlm checkpoint (default: the config's expert source checkpoint)")
  .option('--samples <n>', "trajectories per prompt (default: the expert source's samples)")
  .option('--temperature <t>', "sampling temperature; logprobs are recorded at it (default: the expert source's)")
  .option('--seed <n>', 'run seed (selects the prompt pool)')
  .option('--backend <name>', 'tensor backend')
  .option('--quiet', 'no progress lines')
  .action((config: string, opts) => runExpertGenerate(config, opts));

withPluginOption(
  program
    .command('ablate')
    .description('run an ablation (factors × levels × seeds of mmrl train runs) and report accuracy with t-intervals'),
)
  .argument('[spec]', 'ablation spec (YAML or JSON): base, factors, seeds, baseline (docs/ablations.md)')
  .option('--jobs <n>', 'runs at once (local: default 1; slurm: array elements running at once, default no limit)')
  .option('--out <dir>', 'parent of the ablation directory <out>/<name>/', 'runs')
  .option('--no-resume', 'run every run anew (default: finished runs are skipped, interrupted ones resume)')
  .option(
    '--reuse <dir>',
    'copy finished runs with the same config hash from another ablation (its directory, or an --out directory) instead of re-running them; repeatable',
    collect,
    [] as string[],
  )
  .option('--dry-run', 'expand and validate the spec, list the runs, run nothing')
  .option('--tensorboard', 'every run also writes TensorBoard event files (tensorboard --logdir <out>/<name>)')
  .option('--status <dir>', 'report the state of the runs of an ablation directory (local processes, Slurm jobs); submit and run nothing')
  .addOption(new Option('--executor <kind>', "where runs execute (default: the spec's executor.kind, else local)").choices(['local', 'slurm']))
  .option('--slurm-partition <name>', 'sbatch --partition')
  .option('--slurm-time <limit>', 'sbatch --time per run, e.g. 30 (minutes), 1:00:00, 1-0')
  .option('--slurm-cpus-per-task <n>', "sbatch --cpus-per-task; also the runs' wasm threads when their config leaves runtime.threads at auto")
  .option('--slurm-mem <size>', 'sbatch --mem, e.g. 4G')
  .option('--slurm-sbatch <line>', 'another #SBATCH option, e.g. --account=rl; repeatable', collect, [] as string[])
  .option('--slurm-setup <line>', 'a shell line the job script runs before mmrl train, e.g. "module load nodejs/20"; repeatable', collect, [] as string[])
  .addOption(new Option('--slurm-submit <mode>', 'one sbatch --array job for the pending runs, or one job per run').choices(['array', 'per-run']))
  .option('--slurm-poll <seconds>', 'seconds between squeue polls (default 5)')
  .addOption(
    new Option('--on-interrupt <action>', "Slurm executor, on Ctrl-C: ask whether to scancel the ablation's jobs (default), cancel them, or keep them").choices([
      'ask',
      'cancel',
      'keep',
    ]),
  )
  .action((spec: string | undefined, opts) => runAblate(spec, opts));

withPluginOption(program.command('validate').description('check a config (schema, strategy names, requires) without running it'))
  .argument('<config>', 'config file (YAML or JSON)')
  .action((config: string, opts) => runValidate(config, opts));

withPluginOption(program.command('plugins').description('list registered strategies by kind with their options'))
  .option('--json', 'print kinds, names and option schemas as JSON')
  .option('--kind <kind>', 'only this kind')
  .action((opts) => runPlugins(opts));

withPluginOption(
  program.command('schema').description('print the config JSON schema composed from the registered strategies (for "$schema")'),
)
  .option('--out <file>', 'write it to this file (atomically) instead of stdout')
  .action((opts) => runSchema(opts));

program
  .command('init-plugin')
  .description('scaffold a third-party plugin package (token weighter example, StrategyTester test, tsup build)')
  .argument('<name>', 'npm package name, e.g. mmrl-plugin-acme')
  .option('--dir <path>', 'target directory (default: ./<name without scope>); must not exist or be empty')
  .option('--namespace <ns>', 'namespace of the strategy ids (default: the name without scope and mmrl-plugin- prefix)')
  .option('--core <path>', 'a local @mmrl/core package directory to depend on (file: link) instead of the npm release')
  .action((name: string, opts) => runInitPlugin(name, opts));

program
  .command('export')
  .description('write the metrics.jsonl rows of a run directory, or of every run of an ablation directory, as one CSV or Parquet table')
  .argument('<dir>', 'a run directory (with metrics.jsonl) or an ablation directory (with runs/)')
  .addOption(new Option('--format <format>', 'table format (default: parquet when --out ends in .parquet, else csv)').choices([...EXPORT_FORMATS]))
  .option('--out <file>', 'the file to write, atomically (default: <dir>/metrics.<format>)')
  .action(async (dir: string, opts) => {
    await runExport(dir, opts);
  });

program
  .command('archive')
  .description(
    "copy an ablation's finished runs without checkpoints (records, summaries, final evaluations, gzipped metrics) to a results archive that --reuse takes over",
  )
  .argument('<dir>', 'an ablation directory (<out>/<name>, with runs/)')
  .requiredOption('--out <dir>', 'the archive directory, e.g. docs/ablation-runs/<name> (runs/ and report.* go under it)')
  .action(async (dir: string, opts) => {
    await runArchive(dir, opts);
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof MmrlConfigError) {
    console.error(`mmrl: ${e.message}`);
  } else {
    const err = e as Error;
    console.error(`mmrl: error: ${err?.message ?? String(e)}`);
    if (process.env['MMRL_DEBUG']) console.error(err?.stack);
    else console.error('(set MMRL_DEBUG=1 for the stack trace)');
  }
  process.exit(1);
});
