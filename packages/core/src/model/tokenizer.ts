/** Ids of the special tokens, fixed at the start of every vocabulary. */
export const PAD = '<pad>';
export const BOS = '<bos>';
export const EOS = '<eos>';
export const SPECIAL_TOKENS = [PAD, BOS, EOS] as const;

/**
 * A word-level tokenizer over a closed vocabulary. Text is split into the longest vocabulary entries, skipping
 * whitespace; digits are single tokens so any number can be written. Decoding joins tokens with a space, except
 * between consecutive digits.
 */
export class Tokenizer {
  readonly vocab: readonly string[];
  private readonly ids = new Map<string, number>();
  private readonly byLength: string[];
  readonly padId: number;
  readonly bosId: number;
  readonly eosId: number;

  /** @throws Error on duplicate entries or entries containing whitespace. */
  constructor(words: readonly string[]) {
    const vocab: string[] = [...SPECIAL_TOKENS];
    for (const w of words) if (!vocab.includes(w)) vocab.push(w);
    for (const w of vocab) {
      if (/\s/.test(w) || w.length === 0) throw new Error(`Tokenizer: invalid vocabulary entry ${JSON.stringify(w)}`);
    }
    vocab.forEach((w, i) => this.ids.set(w, i));
    this.vocab = vocab;
    this.byLength = [...vocab].sort((a, b) => b.length - a.length);
    this.padId = 0;
    this.bosId = 1;
    this.eosId = 2;
  }

  get size(): number {
    return this.vocab.length;
  }

  /** @throws Error naming the character offset of text no vocabulary entry matches. */
  encode(text: string): number[] {
    const out: number[] = [];
    let i = 0;
    while (i < text.length) {
      if (/\s/.test(text[i]!)) {
        i++;
        continue;
      }
      const word = this.byLength.find((w) => text.startsWith(w, i));
      if (word === undefined) {
        throw new Error(`Tokenizer: no vocabulary entry matches at offset ${i}: ${JSON.stringify(text.slice(i, i + 20))}`);
      }
      out.push(this.ids.get(word)!);
      i += word.length;
    }
    return out;
  }

  /** Decodes ids to text; PAD and EOS are dropped, decoding stops at the first EOS. */
  decode(ids: readonly number[]): string {
    let text = '';
    let prevDigit = false;
    for (const id of ids) {
      if (id === this.eosId) break;
      if (id === this.padId || id === this.bosId) continue;
      const w = this.vocab[id];
      if (w === undefined) throw new Error(`Tokenizer: id ${id} out of range (vocabulary size ${this.size})`);
      const digit = /^[0-9]$/.test(w);
      if (text.length > 0 && !(digit && prevDigit)) text += ' ';
      text += w;
      prevDigit = digit;
    }
    return text;
  }

  id(word: string): number {
    const id = this.ids.get(word);
    if (id === undefined) throw new Error(`Tokenizer: ${JSON.stringify(word)} is not in the vocabulary`);
    return id;
  }
}
