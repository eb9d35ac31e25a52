import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { pinnedByRestores } from '../../cli/backup.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

describe('holdfast backup', () => {
  it('without its configuration, says which file and why in one log line and exits 1', async () => {
    const missing = path.join(root, '.holdfast/no-such-backup.json');
    const result = await run(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'backup', '--config', missing], {
      cwd: root,
      env: { ...process.env, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '' },
    }).then(
      () => ({ code: 0, stdout: '', stderr: '' }),
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('');
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!) as { level: number; component: string; msg: string };
    expect(entry).toMatchObject({ level: 50, component: 'backup' });
    expect(entry.msg).toContain(`backup not started: cannot read the backup configuration ${missing}: ENOENT`);
  }, 60_000);
});

describe('pinnedByRestores', () => {
  it('pins the backup of each unfinished Restore and every Restore’s safety backup', () => {
    expect(
      pinnedByRestores([
        { status: { phase: 'Restoring', backup: 'b-0900', safetyBackup: 'r1-before' } },
        { status: { phase: 'Succeeded', backup: 'b-0800', safetyBackup: 'r0-before' } },
        { status: { phase: 'Pending' } },
        {},
      ]),
    ).toEqual(new Set(['b-0900', 'r1-before', 'r0-before']));
  });
});
