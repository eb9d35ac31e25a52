import { describe, expect, it } from 'vitest';
import { RestoreSpec } from '../api/restore.js';
import { chooseBackup, safetyBackupName } from './restore-requests.js';

const backup = (name: string, phase: 'Succeeded' | 'Failed' | 'Running', completedAt?: string) => ({
  name,
  status: { phase, ...(completedAt ? { completedAt, artifact: `acme/2026/11/${name}.dump.age` } : {}) },
});
const backups = [
  backup('acme-0900', 'Succeeded', '2026-11-30T09:00:30Z'),
  backup('acme-1000', 'Failed', '2026-11-30T10:00:30Z'),
  backup('acme-1100', 'Succeeded', '2026-11-30T11:00:30Z'),
  backup('acme-1200', 'Running'),
];

describe('chooseBackup', () => {
  it('takes the Backup named, if it succeeded', () => {
    expect(chooseBackup({ workspace: 'acme', backup: 'acme-0900' }, backups)).toEqual({ backup: 'acme-0900' });
    expect(chooseBackup({ workspace: 'acme', backup: 'acme-1000' }, backups)).toEqual({
      error: 'backup acme-1000 is Failed, not Succeeded: only a stored backup can be restored',
    });
    expect(chooseBackup({ workspace: 'acme', backup: 'nope' }, backups)).toEqual({
      error: 'backup nope does not exist: kubectl get backups lists those of acme',
    });
  });

  it('takes the newest Succeeded backup completed at or before a time, skipping failed ones', () => {
    expect(chooseBackup({ workspace: 'acme', before: '2026-11-30T10:59:00Z' }, backups)).toEqual({
      backup: 'acme-0900',
    });
    expect(chooseBackup({ workspace: 'acme', before: '2026-11-30T11:00:30Z' }, backups)).toEqual({
      backup: 'acme-1100',
    });
    expect(chooseBackup({ workspace: 'acme', before: '2026-11-30T13:00:00+01:00' }, backups)).toEqual({
      backup: 'acme-1100',
    });
    expect(chooseBackup({ workspace: 'acme', before: '2026-11-30T08:00:00Z' }, backups)).toEqual({
      error: 'no Succeeded backup of acme completed at or before 2026-11-30T08:00:00Z',
    });
    expect(chooseBackup({ workspace: 'acme', before: 'yesterday' }, backups)).toEqual({
      error: 'spec.before "yesterday" is not a time: write it as RFC 3339, such as 2026-11-30T09:00:00Z',
    });
  });
});

describe('the Restore spec', () => {
  it('needs exactly one of backup or before', () => {
    expect(RestoreSpec.safeParse({ workspace: 'acme', backup: 'b' }).success).toBe(true);
    expect(RestoreSpec.safeParse({ workspace: 'acme' }).success).toBe(false);
    expect(RestoreSpec.safeParse({ workspace: 'acme', backup: 'b', before: '2026-11-30T09:00:00Z' }).success).toBe(
      false,
    );
  });

  it('takes a new database name that no server or workspace has already', () => {
    expect(RestoreSpec.safeParse({ workspace: 'acme', backup: 'b', newDatabase: 'restored_1130' }).success).toBe(true);
    for (const taken of ['app', 'postgres', 'template1'])
      expect(RestoreSpec.safeParse({ workspace: 'acme', backup: 'b', newDatabase: taken }).success).toBe(false);
    for (const bad of ['Restored', 'with-dash', '1st', 'a'.repeat(64)])
      expect(RestoreSpec.safeParse({ workspace: 'acme', backup: 'b', newDatabase: bad }).success).toBe(false);
  });
});

describe('safetyBackupName', () => {
  it('marks the Restore’s name, within 63 characters', () => {
    expect(safetyBackupName('acme-restore-20261130-120000')).toBe('acme-restore-20261130-120000-before');
    const long = safetyBackupName(`${'a'.repeat(60)}-restore-20261130-120000`);
    expect(long.length).toBeLessThanOrEqual(63);
  });
});
