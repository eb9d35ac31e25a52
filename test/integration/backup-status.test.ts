// The operator reads the Backup resources backup jobs write: `kubectl get ws`
// shows LAST BACKUP, the status the recovery point, and LastBackupSucceeded
// (with a Warning Event) says when the newest backup failed and why.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namespaceOf } from '../../operator/api/workspace.js';
import { KubeBackupRecorder } from '../../operator/backup/record.js';
import { eventually, kubectl } from '../harness/kube.js';
import { installCrds, startOperator, type RunningOperator } from '../harness/operator.js';
import { Workspaces } from '../harness/workspaces.js';

describe('backup status of a workspace', () => {
  const w = new Workspaces();
  let operator: RunningOperator;
  let name: string;
  beforeAll(async () => {
    await installCrds();
    operator = await startOperator({ selector: w.selector, leaseName: w.run });
    const encrypted = await w.storageClass({ encrypted: true });
    name = await w.create('bk', { volume: { storageClassName: encrypted }, deletionPolicy: 'Delete' });
    await eventually('the namespace', async () => w.object('Namespace', namespaceOf(name)), 60_000);
  });
  afterAll(async () => {
    await w.delete(name);
    await operator?.stop();
  });

  it('shows the newest good backup in kubectl get ws, and a failed one in its condition and an Event', async () => {
    const ns = namespaceOf(name);
    const before = await w.waitForCondition(name, 'LastBackupSucceeded', 'Unknown');
    expect(w.condition(before, 'LastBackupSucceeded')?.reason).toBe('NoBackupYet');
    // Not knowing yet is no warning.
    expect((await w.events(name)).filter((e) => e.reason === 'NoBackupYet')).toEqual([]);

    const at = new Date(Date.now() - 90_000).toISOString();
    await new KubeBackupRecorder(w.rest, ns, `${name}-good`, name, 'Scheduled').update({
      phase: 'Succeeded',
      startedAt: at,
      completedAt: at,
      sizeText: '3.10 MiB',
      rows: 1234,
      copiesText: '2/2',
      copies: [
        { destination: 'local', phase: 'Stored' },
        { destination: 'offsite', phase: 'Stored' },
      ],
    });
    const good = await w.waitForCondition(name, 'LastBackupSucceeded', 'True');
    expect(good.status).toMatchObject({ lastBackupTime: at, recoveryPoint: at });
    const table = (await kubectl('get', 'ws', name)).trim().split('\n');
    expect(table[0]).toMatch(/LAST BACKUP/);
    // LAST BACKUP is an age, as kubectl prints dates: about a minute and a half.
    expect(table[1]).toMatch(new RegExp(`^${name}\\s+\\S+\\s+Dedicated\\s+\\S+\\s+(8\\d|9\\d|1\\d\\d)s\\s+`));

    const failedAt = new Date().toISOString();
    await new KubeBackupRecorder(w.rest, ns, `${name}-bad`, name, 'Scheduled').update({
      phase: 'Failed',
      startedAt: failedAt,
      completedAt: failedAt,
      message: 'pg_dump failed (exit 1): connection refused',
    });
    const failed = await w.waitForCondition(name, 'LastBackupSucceeded', 'False');
    expect(w.condition(failed, 'LastBackupSucceeded')).toMatchObject({
      reason: 'BackupFailed',
      message: `backup ${name}-bad failed: pg_dump failed (exit 1): connection refused; the newest good backup is ${name}-good of ${at}`,
    });
    expect(failed.status?.lastBackupTime).toBe(at);
    await eventually('the Warning Event', async () =>
      (await w.events(name)).find((e) => e.type === 'Warning' && e.reason === 'BackupFailed'),
    );
  });
});
