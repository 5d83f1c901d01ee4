import type { Tokenizer } from '../model/tokenizer.js';
import type { Prompt } from './types.js';

/** Prompt token ids fed to the policy after the image tokens: `[BOS, question…]`. */
export function encodePrompt(tokenizer: Tokenizer, prompt: Prompt): number[] {
  return [tokenizer.bosId, ...tokenizer.encode(prompt.question)];
}

/** Response token ids of a target text (SFT): the text's tokens followed by EOS. */
export function encodeResponse(tokenizer: Tokenizer, text: string): number[] {
  return [...tokenizer.encode(text), tokenizer.eosId];
}
