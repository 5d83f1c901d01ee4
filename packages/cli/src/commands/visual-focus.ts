/**
 * Visual dependence of a policy's responses by token position: the input of VGPO's decay compensation, measured
 * (docs/regimes.md, "VGPO"). A policy samples `--samples` responses to each of `--prompts` held-out prompts; one
 * forward pass of the sampled rows gives, per response token t:
 *
 * - `S_t`, VGPO's visual focus: the cosine between the token's last-layer hidden state and the mean hidden state of
 *   the row's image tokens (VGPO arXiv 2604.09349, Eqs. 2–3; the same function as the `vgpo` weighter,
 *   `VgpoTokenWeighter.cosines`);
 * - `D_t = |log π(o_t | image, …) − log π(o_t | no image, …)|`, the token's dependence on the image as ToR scores it
 *   (the `imagelessLogprobs` forward output: the image tokens masked out), in nats.
 *
 * Positions are counted from the end of the description (`</description>` is position 0; the reasoning span is
 * 1, 2, …), so "does visual focus decay over the reasoning?" is the slope of `S_t` over these positions. The slope
 * is fitted per response (ordinary least squares over its reasoning tokens) and reported as a mean with its 95%
 * Student t-interval over responses, for `S` and for `D`; so is the difference between the last and the first 10
 * reasoning tokens of each response. Only finished responses with a description are used.
 *
 *   npx mmrl visual-focus <config> [--checkpoint <dir>] [--prompts 64] [--samples 4] [--bin 10] [--temperature 1]
 *                                  [--seed 1] [--json <file>]
 *
 * The config gives the task and policy (and `init.checkpoint` unless `--checkpoint`). Prints a markdown table;
 * `--json` also writes every number. Runs on the config's backend (`auto` = wasm), one wasm thread unless the config
 * names more.
 */
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  POLICY,
  TASK,
  collateSequences,
  createRunContainer,
  deriveSeed,
  disposeBatch,
  encodePrompt,
  initBackend,
  loadConfigFile,
  policyCheckpointDir,
  resolveWasmThreads,
  writeJsonAtomic,
} from '@mmrl/core';
import { VgpoTokenWeighter } from '@mmrl/plugins';
import { tInterval, type TInterval } from '../ablation/stats.js';
import { createRegistry, type PluginOptions } from '../registry.js';

/** Per-position means and per-response decay statistics of S (VGPO cosine) and D (|Δ log p| image vs no image). */
export interface VisualFocusReport {
  config: string;
  checkpoint: string | null;
  prompts: number;
  samples: number;
  /** Responses analysed (finished, with a description) of all sampled. */
  responses: number;
  sampled: number;
  meanResponseTokens: number;
  /** Tokens after `</description>` (reasoning span, answer included). */
  meanReasoningTokens: number;
  /** Fraction of analysed responses with ≥ 40 tokens after the description. */
  fractionReasoningAtLeast40: number;
  /** The description span (before `</description>`). */
  description: { tokens: number; meanS: number; meanD: number };
  /** Reasoning positions in bins of `bin` tokens: [from, to] inclusive, token count, mean S, mean D. */
  byPosition: { from: number; to: number; tokens: number; meanS: number; meanD: number }[];
  /** OLS slope per response over its reasoning positions (per token), t-interval over responses. */
  slopeS: TInterval;
  slopeD: TInterval;
  /** Mean over the last 10 reasoning tokens minus the mean over the first 10, per response with ≥ 20 of them. */
  lastMinusFirstS: TInterval;
  lastMinusFirstD: TInterval;
}

/** The ordinary least-squares slope of ys over xs (NaN when every x is equal). */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  return sxy / sxx;
}

const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/**
 * Samples and measures (see the file comment).
 * @throws Error when the options are invalid or no analysed response has a description.
 */
export async function visualFocus(
  configPath: string,
  opts: { checkpoint?: string; prompts: number; samples: number; bin: number; temperature: number; seed: number } & PluginOptions,
): Promise<VisualFocusReport> {
  for (const [name, v] of Object.entries({ prompts: opts.prompts, samples: opts.samples, bin: opts.bin, seed: opts.seed })) {
    if (!Number.isInteger(v) || v < (name === 'seed' ? 0 : 1)) throw new Error(`--${name} must be a ${name === 'seed' ? 'non-negative' : 'positive'} integer, got ${v}`);
  }
  if (!(opts.temperature > 0)) throw new Error(`--temperature must be positive, got ${opts.temperature}`);
  const registry = await createRegistry(opts, configPath);
  const { config, baseDir } = await loadConfigFile(registry, configPath);
  if (opts.checkpoint) config.init.checkpoint = resolve(opts.checkpoint);
  await initBackend(config.runtime.backend === 'auto' ? 'wasm' : config.runtime.backend, {
    threads: resolveWasmThreads(config.runtime.threads === 'auto' ? 1 : config.runtime.threads),
  });
  const container = await createRunContainer(registry, config, { baseDir, kinds: ['task', 'policy'] });
  const task = container.resolve(TASK);
  const policy = container.resolve(POLICY);
  const tok = policy.tokenizer;
  const descEnd = tok.id('</description>');
  const prompts = task.prompts('test', opts.prompts, deriveSeed(opts.seed, 'visual-focus'));
  const promptTokens = prompts.map((p) => encodePrompt(tok, p));
  const result = await policy.generate({
    images: prompts.map((p) => p.image),
    promptTokens,
    samplesPerPrompt: opts.samples,
    maxNewTokens: config.trainer.maxResponseTokens,
    temperature: opts.temperature,
    topP: 1,
    greedy: false,
    seed: deriveSeed(opts.seed, 'visual-focus-sample'),
  });
  const rows = result.tokens
    .map((tokens, r) => ({ tokens, prompt: Math.floor(r / opts.samples), finished: result.finished[r]! }))
    .filter((r) => r.finished && r.tokens.includes(descEnd));
  if (rows.length === 0) throw new Error(`${configPath}: none of the ${result.tokens.length} sampled responses is finished with a </description>`);
  const T = Math.max(...rows.map((r) => r.tokens.length));
  const batch = collateSequences(
    rows.map((r) => ({ image: prompts[r.prompt]!.image, promptTokens: promptTokens[r.prompt]!, responseTokens: r.tokens })),
    task.imageShape,
    tok.padId,
    T,
  );
  const out = policy.forward(batch, {
    temperature: opts.temperature,
    outputs: { hiddenStates: true, imageHiddenStates: true, imagelessLogprobs: true },
  });
  const { S, prototypeNorm } = VgpoTokenWeighter.cosines(out.hiddenStates!, out.imageHiddenStates!, 1e-8);
  const D = tf.abs(tf.sub(out.logprobs, out.imagelessLogprobs!));
  const [s, d] = (await Promise.all([S.data(), D.data()])) as [Float32Array, Float32Array];
  tf.dispose([S, prototypeNorm, D, ...Object.values(out)]);
  disposeBatch(batch);

  const desc = { s: [] as number[], d: [] as number[] };
  const bins = new Map<number, { s: number[]; d: number[] }>();
  const slopesS: number[] = [];
  const slopesD: number[] = [];
  const diffS: number[] = [];
  const diffD: number[] = [];
  const reasoningLengths: number[] = [];
  rows.forEach((r, i) => {
    const end = r.tokens.indexOf(descEnd);
    const xs: number[] = [];
    const ys: number[] = [];
    const zs: number[] = [];
    for (let t = 0; t < r.tokens.length; t++) {
      const k = i * T + t;
      if (t < end) {
        desc.s.push(s[k]!);
        desc.d.push(d[k]!);
        continue;
      }
      const pos = t - end;
      if (pos === 0) continue;
      const b = Math.floor((pos - 1) / opts.bin);
      const cell = bins.get(b) ?? { s: [], d: [] };
      cell.s.push(s[k]!);
      cell.d.push(d[k]!);
      bins.set(b, cell);
      xs.push(pos);
      ys.push(s[k]!);
      zs.push(d[k]!);
    }
    reasoningLengths.push(xs.length);
    if (xs.length >= 2) {
      slopesS.push(slope(xs, ys));
      slopesD.push(slope(xs, zs));
    }
    if (xs.length >= 20) {
      diffS.push(mean(ys.slice(-10)) - mean(ys.slice(0, 10)));
      diffD.push(mean(zs.slice(-10)) - mean(zs.slice(0, 10)));
    }
  });
  const byPosition = [...bins.entries()]
    .sort(([a], [b]) => a - b)
    .map(([b, cell]) => ({ from: b * opts.bin + 1, to: (b + 1) * opts.bin, tokens: cell.s.length, meanS: mean(cell.s), meanD: mean(cell.d) }));
  return {
    config: configPath,
    checkpoint: config.init.checkpoint ? policyCheckpointDir(resolve(baseDir, config.init.checkpoint)) : null,
    prompts: opts.prompts,
    samples: opts.samples,
    responses: rows.length,
    sampled: result.tokens.length,
    meanResponseTokens: mean(rows.map((r) => r.tokens.length)),
    meanReasoningTokens: mean(reasoningLengths),
    fractionReasoningAtLeast40: reasoningLengths.filter((n) => n >= 40).length / rows.length,
    description: { tokens: desc.s.length, meanS: mean(desc.s), meanD: mean(desc.d) },
    byPosition,
    slopeS: tInterval(slopesS),
    slopeD: tInterval(slopesD),
    lastMinusFirstS: tInterval(diffS),
    lastMinusFirstD: tInterval(diffD),
  };
}

/** The report as markdown (what the script prints). */
export function formatVisualFocus(r: VisualFocusReport): string {
  const f = (x: number, digits = 4) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
  const ci = (t: TInterval, digits = 5) =>
    `${f(t.mean, digits)} [${t.low === null ? 'n/a' : f(t.low, digits)}, ${t.high === null ? 'n/a' : f(t.high, digits)}] (n = ${t.n})`;
  const lines = [
    `Visual focus by position: ${r.config}${r.checkpoint ? ` (checkpoint ${r.checkpoint})` : ''}`,
    `${r.responses} of ${r.sampled} sampled responses (${r.prompts} test prompts × ${r.samples}) finished with a description; ` +
      `${f(r.meanResponseTokens, 1)} tokens on average, ${f(r.meanReasoningTokens, 1)} after </description> ` +
      `(${f(100 * r.fractionReasoningAtLeast40, 0)}% with ≥ 40).`,
    '',
    '| span | tokens | mean S (VGPO cosine) | mean D (abs. Δ log p, nats) |',
    '| --- | --- | --- | --- |',
    `| description | ${r.description.tokens} | ${f(r.description.meanS)} | ${f(r.description.meanD)} |`,
    ...r.byPosition.map((b) => `| reasoning ${b.from}–${b.to} | ${b.tokens} | ${f(b.meanS)} | ${f(b.meanD)} |`),
    '',
    `Slope over reasoning positions, per token (mean over responses, 95% CI): S ${ci(r.slopeS)}; D ${ci(r.slopeD)}`,
    `Last 10 − first 10 reasoning tokens: S ${ci(r.lastMinusFirstS)}; D ${ci(r.lastMinusFirstD)}`,
  ];
  return lines.join('\n');
}

export interface VisualFocusOptions extends PluginOptions {
  checkpoint?: string;
  prompts?: string;
  samples?: string;
  bin?: string;
  temperature?: string;
  seed?: string;
  json?: string;
}

/** `mmrl visual-focus <config>`: prints the report; `--json <file>` also writes it (atomically). @throws Error as {@link visualFocus}. */
export async function runVisualFocus(configPath: string, opts: VisualFocusOptions): Promise<void> {
  const report = await visualFocus(configPath, {
    ...(opts.checkpoint ? { checkpoint: opts.checkpoint } : {}),
    ...(opts.plugin ? { plugin: opts.plugin } : {}),
    prompts: Number(opts.prompts ?? 64),
    samples: Number(opts.samples ?? 4),
    bin: Number(opts.bin ?? 10),
    temperature: Number(opts.temperature ?? 1),
    seed: Number(opts.seed ?? 1),
  });
  console.log(formatVisualFocus(report));
  if (opts.json) await writeJsonAtomic(opts.json, report);
}
