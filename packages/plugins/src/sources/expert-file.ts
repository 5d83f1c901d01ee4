import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@mmrl/core';
import type { Prompt } from '@mmrl/core';

/** First line of an expert trajectory file. */
export const EXPERT_FILE_FORMAT = 'mmrl-expert-trajectories';
export const EXPERT_FILE_VERSION = 1;

/**
 * Header (line 1) of an expert trajectory JSONL file.
 * `{"format":"mmrl-expert-trajectories","version":1,"vocabulary":[…],"temperature":1,"topP":1,"source":"…"}`
 */
export interface ExpertFileHeader {
  format: typeof EXPERT_FILE_FORMAT;
  version: number;
  /** The tokenizer vocabulary the token ids index (must equal the student's: METHODS.md TG-5). */
  vocabulary: string[];
  /** Sampling temperature of the expert; `logprobs` are at this temperature. */
  temperature: number;
  topP: number;
  /** Where the trajectories came from (e.g. the expert checkpoint path). */
  source: string;
}

/**
 * One expert trajectory (lines 2…): `{"prompt":"<key>","id":"train-…","tokens":[…],"logprobs":[…],"finished":true}`.
 * `prompt` is {@link promptKey} of the prompt; `tokens` the response token ids (EOS included when finished);
 * `logprobs` ℓφ of each token under the expert at the recorded temperature (nats, ≤ 0), same length as `tokens`.
 */
export interface ExpertRecord {
  prompt: string;
  id?: string;
  tokens: number[];
  logprobs: number[];
  finished: boolean;
}

/** A loaded expert file: the header and the trajectories of each prompt key, in file order. */
export interface ExpertFile {
  path: string;
  header: ExpertFileHeader;
  byPrompt: Map<string, ExpertRecord[]>;
  count: number;
}

/**
 * Identity of a prompt independent of seeds and pool order: sha-256 of question, image shape and pixels (hex,
 * 32 characters). Two prompts with the same question and image share expert trajectories.
 */
export function promptKey(prompt: Prompt): string {
  const h = createHash('sha256');
  h.update(prompt.question);
  h.update('\0');
  h.update(prompt.imageShape.join('x'));
  h.update('\0');
  h.update(Buffer.from(prompt.image.buffer, prompt.image.byteOffset, prompt.image.byteLength));
  return h.digest('hex').slice(0, 32);
}

/** A problem in an expert file, naming the file and line (1-based). */
export class ExpertFileError extends Error {
  constructor(
    readonly path: string,
    readonly line: number,
    message: string,
  ) {
    super(`${path}:${line}: ${message}`);
    this.name = 'ExpertFileError';
  }
}

function isIntArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isInteger(x));
}

/**
 * Reads and validates an expert trajectory file (format above).
 * @param vocabulary the student's vocabulary; it must equal the header's.
 * @throws ExpertFileError naming `path:line` for a missing or malformed header, invalid JSON, a missing or
 *   mistyped field, a token id outside the vocabulary, a logprob that is not a finite number ≤ 0, or a length mismatch
 *   between `tokens` and `logprobs`; Error naming the path when the file cannot be read.
 */
export async function readExpertFile(path: string, vocabulary: readonly string[]): Promise<ExpertFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`expert trajectories ${path}: cannot read the file (${(e as Error).message})`);
  }
  const lines = text.split('\n');
  const parse = (i: number): unknown => {
    try {
      return JSON.parse(lines[i]!);
    } catch (e) {
      throw new ExpertFileError(path, i + 1, `invalid JSON (${(e as Error).message})`);
    }
  };
  if (lines.length === 0 || lines[0]!.trim() === '') throw new ExpertFileError(path, 1, 'empty file: expected the header line');
  const header = parse(0) as Partial<ExpertFileHeader>;
  if (header?.format !== EXPERT_FILE_FORMAT) {
    throw new ExpertFileError(path, 1, `header "format" must be "${EXPERT_FILE_FORMAT}", got ${JSON.stringify(header?.format)}`);
  }
  if (header.version !== EXPERT_FILE_VERSION) {
    throw new ExpertFileError(path, 1, `version ${JSON.stringify(header.version)}; this build reads version ${EXPERT_FILE_VERSION}`);
  }
  if (!Array.isArray(header.vocabulary) || !header.vocabulary.every((w) => typeof w === 'string')) {
    throw new ExpertFileError(path, 1, 'header "vocabulary" must be a list of strings');
  }
  const diff = header.vocabulary.findIndex((w, i) => w !== vocabulary[i]);
  if (header.vocabulary.length !== vocabulary.length || diff >= 0) {
    const at = diff >= 0 ? diff : Math.min(header.vocabulary.length, vocabulary.length);
    throw new ExpertFileError(
      path,
      1,
      `the expert's vocabulary differs from the student's (${header.vocabulary.length} vs ${vocabulary.length} tokens; first difference at id ${at}: ${JSON.stringify(header.vocabulary[at])} vs ${JSON.stringify(vocabulary[at])}): TGRL needs a shared tokenizer`,
    );
  }
  for (const key of ['temperature', 'topP'] as const) {
    if (typeof header[key] !== 'number' || !(header[key]! > 0)) throw new ExpertFileError(path, 1, `header "${key}" must be a number > 0`);
  }
  const byPrompt = new Map<string, ExpertRecord[]>();
  let count = 0;
  for (let i = 1; i < lines.length; i++) {
    if (lines[i]!.trim() === '') continue;
    const r = parse(i) as Partial<ExpertRecord>;
    const where = (m: string) => new ExpertFileError(path, i + 1, m);
    if (typeof r !== 'object' || r === null) throw where('expected an object');
    if (typeof r.prompt !== 'string' || r.prompt.length === 0) throw where('"prompt" must be a non-empty string (the prompt key)');
    if (!isIntArray(r.tokens) || r.tokens.length === 0) throw where('"tokens" must be a non-empty list of integer token ids');
    const bad = r.tokens.findIndex((t) => t < 0 || t >= vocabulary.length);
    if (bad >= 0) throw where(`"tokens"[${bad}] = ${r.tokens[bad]} is outside the vocabulary (0..${vocabulary.length - 1})`);
    if (!Array.isArray(r.logprobs) || r.logprobs.length !== r.tokens.length) {
      throw where(`"logprobs" must be a list with one entry per token (${r.tokens.length}), got ${Array.isArray(r.logprobs) ? r.logprobs.length : typeof r.logprobs}`);
    }
    const badLp = r.logprobs.findIndex((x) => typeof x !== 'number' || !Number.isFinite(x) || x > 1e-6);
    if (badLp >= 0) throw where(`"logprobs"[${badLp}] = ${JSON.stringify(r.logprobs[badLp])} is not a finite log-probability ≤ 0`);
    if (typeof r.finished !== 'boolean') throw where('"finished" must be true or false');
    const list = byPrompt.get(r.prompt) ?? [];
    list.push(r as ExpertRecord);
    byPrompt.set(r.prompt, list);
    count++;
  }
  return { path, header: header as ExpertFileHeader, byPrompt, count };
}

/** Writes an expert trajectory file atomically (temporary file + rename). */
export async function writeExpertFile(path: string, header: ExpertFileHeader, records: readonly ExpertRecord[]): Promise<void> {
  const lines = [JSON.stringify(header), ...records.map((r) => JSON.stringify(r))];
  await writeFileAtomic(path, lines.join('\n') + '\n');
}
