import { resolve } from 'node:path';
import {
  createRunContainer,
  deriveSeed,
  encodePrompt,
  initBackend,
  resolveWasmThreads,
  loadConfigFile,
  Tokenizer,
  REWARD_FUNCTION,
  TASK,
} from '@mmrl/core';
import {
  EXPERT_FILE_FORMAT,
  EXPERT_FILE_VERSION,
  loadExpertPolicy,
  promptKey,
  writeExpertFile,
  type ExpertRecord,
} from '@mmrl/plugins';
import { createRegistry, type PluginOptions } from '../registry.js';

export interface ExpertGenerateOptions extends PluginOptions {
  out: string;
  checkpoint?: string;
  samples?: string;
  temperature?: string;
  backend?: string;
  seed?: string;
  quiet?: boolean;
}

/**
 * `mmrl expert-generate <config> --out <file.jsonl>`: samples expert trajectories for every prompt of the config's RL
 * prompt pool (`trainer.trainPrompts`, the run's seed) and writes them, with the expert's per-token logprobs, as the
 * JSONL file the `expert` source reads (`file` option; format in docs/strategies/trajectory-source/expert.md). The
 * expert checkpoint, samples and temperature come from the config's `expert` source unless given on the command line.
 * @throws Error when no expert checkpoint is named, or on invalid numbers.
 */
export async function runExpertGenerate(configPath: string, opts: ExpertGenerateOptions): Promise<void> {
  const registry = await createRegistry(opts, configPath);
  const { config, baseDir } = await loadConfigFile(registry, configPath);
  if (opts.seed !== undefined) config.seed = Number(opts.seed);
  const slot = config.trainer.sources.find((s) => s.name === 'expert');
  const slotOptions = (slot?.options ?? {}) as { checkpoint?: string; samples?: number; temperature?: number; topP?: number };
  const checkpoint = opts.checkpoint !== undefined ? resolve(opts.checkpoint) : slotOptions.checkpoint && resolve(baseDir, slotOptions.checkpoint);
  if (!checkpoint) {
    throw new Error('no expert checkpoint: give --checkpoint <dir> or an `expert` source with a `checkpoint` option in the config');
  }
  const number = (value: string | undefined, name: string, fallback: number, integer: boolean): number => {
    if (value === undefined) return fallback;
    const v = Number(value);
    if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) throw new Error(`${name} must be a positive ${integer ? 'integer' : 'number'}, got "${value}"`);
    return v;
  };
  const samples = number(opts.samples, '--samples', slotOptions.samples ?? 1, true);
  const temperature = number(opts.temperature, '--temperature', slotOptions.temperature ?? 1, false);
  const topP = slotOptions.topP ?? 1;
  await initBackend((opts.backend ?? config.runtime.backend) as typeof config.runtime.backend, {
    threads: resolveWasmThreads(config.runtime.threads),
  });
  const container = await createRunContainer(registry, config, { baseDir, kinds: ['task', 'reward-function'] });
  const reward = container.resolve(REWARD_FUNCTION);
  const task = container.resolve(TASK);
  const tokenizer = new Tokenizer(task.vocabulary());
  const expert = await loadExpertPolicy(checkpoint, tokenizer.vocab);
  const log = opts.quiet ? () => {} : (line: string) => console.log(line);
  try {
    const pool = task.prompts('train', config.trainer.trainPrompts, deriveSeed(config.seed, 'rl-prompts'));
    const records: ExpertRecord[] = [];
    const chunk = 64;
    let correct = 0;
    for (let s = 0; s < pool.length; s += chunk) {
      const prompts = pool.slice(s, s + chunk);
      const result = await expert.generate({
        images: prompts.map((p) => p.image),
        promptTokens: prompts.map((p) => encodePrompt(tokenizer, p)),
        samplesPerPrompt: samples,
        maxNewTokens: config.trainer.maxResponseTokens,
        temperature,
        topP,
        greedy: false,
        seed: deriveSeed(config.seed, 'expert-generate', s),
      });
      result.tokens.forEach((tokens, row) => {
        const prompt = prompts[Math.floor(row / samples)]!;
        const text = tokenizer.decode(tokens);
        correct += reward.score({ response: text, answer: prompt.answer, responseLength: tokens.length }).accuracy;
        records.push({ prompt: promptKey(prompt), id: prompt.id, tokens, logprobs: Array.from(result.logprobs[row]!), finished: result.finished[row]! });
      });
      log(`expert-generate: ${Math.min(pool.length, s + chunk)}/${pool.length} prompts`);
    }
    const out = resolve(opts.out);
    await writeExpertFile(
      out,
      { format: EXPERT_FILE_FORMAT, version: EXPERT_FILE_VERSION, vocabulary: [...tokenizer.vocab], temperature, topP, source: checkpoint },
      records,
    );
    log(`wrote ${records.length} expert trajectories (${pool.length} prompts × ${samples}; ${((100 * correct) / records.length).toFixed(1)}% correct) to ${out}`);
  } finally {
    expert.dispose();
  }
}
