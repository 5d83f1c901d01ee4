import {
  generateExtrapolated,
  type ExtrapolationOptions,
  type ForwardOptions,
  type ForwardOutputs,
  type GenerateRequest,
  type GenerateResult,
  type Policy,
  type SequenceBatch,
} from '@mmrl/core';
import { VlmPolicy } from './vlm.js';

/**
 * A `vlm` policy whose sampling is extrapolated away from a base policy (Δlog p test-time extrapolation, METHODS.md
 * §3.4; official `extrapolate.py`): see `generateExtrapolated`. Forward passes, weights and saving are the wrapped
 * policy's; the base policy is owned by this object (disposed with it). For evaluation (`mmrl eval
 * --extrapolate-base`), not training.
 */
export class ExtrapolatedVlmPolicy implements Policy {
  /** Fraction of decoded positions extrapolated by the last `generate` call. */
  lastExtrapolatedFraction = 0;

  constructor(
    private readonly policy: VlmPolicy,
    private readonly base: VlmPolicy,
    private readonly options: ExtrapolationOptions,
  ) {}

  get tokenizer() {
    return this.policy.tokenizer;
  }
  get trainableVariables() {
    return this.policy.trainableVariables;
  }
  parameterCount(): number {
    return this.policy.parameterCount();
  }
  forward(batch: SequenceBatch, options?: ForwardOptions): ForwardOutputs {
    return this.policy.forward(batch, options);
  }
  async generate(request: GenerateRequest): Promise<GenerateResult> {
    const out = await generateExtrapolated(this.policy.model, this.base.model, request, this.tokenizer.eosId, this.tokenizer.padId, this.options);
    this.lastExtrapolatedFraction = out.extrapolatedFraction;
    return { tokens: out.tokens, logprobs: out.logprobs, finished: out.finished };
  }
  save(dir: string): Promise<void> {
    return this.policy.save(dir);
  }
  load(dir: string): Promise<void> {
    return this.policy.load(dir);
  }
  clone(): Policy {
    return this.policy.clone();
  }
  /** Disposes the base policy (the wrapped policy belongs to its run). */
  dispose(): void {
    this.base.dispose();
  }
}
