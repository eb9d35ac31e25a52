// kubectl holdfast for the node tests: installed once per file as a user
// installs it (hack/install-kubectl-plugin), and run through the pinned
// kubectl, which finds it on PATH.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

export type PluginRun = { code: number; stdout: string; stderr: string };

export function kubectlHoldfast(binDir: string): (...args: string[]) => Promise<PluginRun> {
  let installed: Promise<unknown> | undefined;
  return async (...args) => {
    installed ??= run(path.join(root, 'hack/install-kubectl-plugin'), [binDir], { timeout: 300_000 });
    await installed;
    const kubectlDir = (await run(path.join(root, 'hack/build-tools.sh'), ['--print-dir', 'kubernetes'])).stdout.trim();
    return new Promise<PluginRun>((resolve) => {
      execFile(
        path.join(kubectlDir, 'kubectl'),
        ['holdfast', ...args],
        { env: { ...process.env, PATH: `${binDir}:${process.env.PATH}`, KUBECONFIG: inject('kubeconfig') } },
        (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
      );
    });
  };
}
