/** One problem found in a config, located by JSON pointer (e.g. `/trainer/advantage/options/epsilon`). */
export interface ConfigIssue {
  pointer: string;
  message: string;
  /** `file:line:column` when the config came from a file. */
  location?: string;
}

/** A config that failed to parse or validate. `message` lists every issue with its JSON pointer. */
export class MmrlConfigError extends Error {
  readonly code = 'MMRL_CONFIG_INVALID';
  constructor(
    readonly issues: ConfigIssue[],
    readonly file?: string,
  ) {
    super(
      `Invalid config${file ? ` ${file}` : ''}:\n` +
        issues.map((i) => `  ${i.pointer || '/'}${i.location ? ` (${i.location})` : ''}: ${i.message}`).join('\n'),
    );
    this.name = 'MmrlConfigError';
  }
}
