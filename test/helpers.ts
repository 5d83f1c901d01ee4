import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Runs the mmrl CLI from source (as `npm run mmrl` does) and returns exit code and output. */
export function mmrl(args: string[], cwd = ROOT): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(
    process.execPath,
    ['--conditions=@mmrl/source', '--import', 'tsx', join(ROOT, 'packages/cli/src/bin.ts'), ...args],
    { cwd, encoding: 'utf8', env: { ...process.env, MMRL_DEBUG: '' } },
  );
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
