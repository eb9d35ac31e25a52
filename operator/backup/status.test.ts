import { describe, expect, it } from 'vitest';
import type { BackupResourceStatus } from '../api/backup.js';
import { summarizeBackups } from './status.js';

const stored = (d: string) => ({ destination: d, phase: 'Stored' as const });
const backup = (name: string, status: BackupResourceStatus) => ({ name, status });
const ok = (name: string, at: string, extra: Partial<BackupResourceStatus> = {}) =>
  backup(name, {
    phase: 'Succeeded',
    completedAt: at,
    sizeText: '1.20 MiB',
    rows: 42,
    copiesText: '2/2',
    copies: [stored('local'), stored('offsite')],
    ...extra,
  });

describe('summarizeBackups', () => {
  it('says no backup has completed while none has, and sets no times', () => {
    expect(summarizeBackups([backup('running', { phase: 'Running', startedAt: '2026-11-30T04:00:00Z' })])).toEqual({
      condition: {
        type: 'LastBackupSucceeded',
        status: 'Unknown',
        reason: 'NoBackupYet',
        message: 'no backup has completed yet',
      },
      drill: {
        type: 'RestoreTestPassed',
        status: 'Unknown',
        reason: 'NoDrillYet',
        message: 'no restore drill has run yet: the verify CronJob restores the newest backup on its schedule',
      },
    });
  });

  it('reports the newest good backup, the recovery point and the last verified backup', () => {
    const s = summarizeBackups([
      ok('a', '2026-11-28T04:00:00Z', { verifiedAt: '2026-11-29T05:00:00Z' }),
      ok('c', '2026-11-30T04:00:00Z'),
      ok('b', '2026-11-29T04:00:00Z'),
    ]);
    expect(s).toMatchObject({
      lastBackupTime: '2026-11-30T04:00:00Z',
      recoveryPoint: '2026-11-30T04:00:00Z',
      lastVerifiedTime: '2026-11-29T05:00:00Z',
      condition: { status: 'True', reason: 'Succeeded', message: 'backup c: 1.20 MiB, 42 rows, 2/2 copies' },
    });
  });

  it('a failed newest backup turns the condition False, naming the last good one; the times stay on it', () => {
    const s = summarizeBackups([
      ok('good', '2026-11-29T04:00:00Z'),
      backup('bad', { phase: 'Failed', completedAt: '2026-11-30T04:00:00Z', message: 'pg_dump failed (exit 1)' }),
    ]);
    expect(s.lastBackupTime).toBe('2026-11-29T04:00:00Z');
    expect(s).toMatchObject({ lastFailureTime: '2026-11-30T04:00:00Z', lastFailure: 'bad: pg_dump failed (exit 1)' });
    expect(s.condition).toEqual({
      type: 'LastBackupSucceeded',
      status: 'False',
      reason: 'BackupFailed',
      message: 'backup bad failed: pg_dump failed (exit 1); the newest good backup is good of 2026-11-29T04:00:00Z',
    });
  });

  it('a backup with a failed copy is a backup, but not the recovery point at every site', () => {
    const s = summarizeBackups([
      ok('both', '2026-11-29T04:00:00Z'),
      ok('one', '2026-11-30T04:00:00Z', {
        copiesText: '1/2',
        copies: [stored('local'), { destination: 'offsite', phase: 'Failed', message: 'connect ECONNREFUSED' }],
        message: 'copies failed: offsite: connect ECONNREFUSED',
      }),
    ]);
    expect(s).toMatchObject({
      lastBackupTime: '2026-11-30T04:00:00Z',
      recoveryPoint: '2026-11-29T04:00:00Z',
      condition: { status: 'False', reason: 'CopyFailed' },
    });
    expect(s.condition.message).toContain('offsite: connect ECONNREFUSED');
  });

  it('RestoreTestPassed follows the newest drill: its failure names the backup, the copy, why and the log', () => {
    const passed = { passed: true, at: '2026-11-29T05:01:00Z', destination: 'offsite', message: '3 tables, 42 rows' };
    const failed = {
      passed: false,
      at: '2026-11-30T05:01:00Z',
      destination: 'local',
      message: 'age: a chunk does not authenticate: the file was changed',
      job: 'verify-29412345',
    };
    expect(
      summarizeBackups([ok('a', '2026-11-28T04:00:00Z', { verification: passed, verifiedAt: passed.at })]).drill,
    ).toEqual({
      type: 'RestoreTestPassed',
      status: 'True',
      reason: 'Restored',
      message: 'backup a from offsite restored into a scratch database at 2026-11-29T05:01:00Z: 3 tables, 42 rows',
    });
    const s = summarizeBackups([
      ok('a', '2026-11-28T04:00:00Z', { verification: passed, verifiedAt: passed.at }),
      ok('b', '2026-11-29T04:00:00Z', { verification: failed }),
    ]);
    expect(s.drill).toEqual({
      type: 'RestoreTestPassed',
      status: 'False',
      reason: 'RestoreTestFailed',
      message:
        'the restore drill of backup b from local failed at 2026-11-30T05:01:00Z: age: a chunk does not authenticate: ' +
        'the file was changed (kubectl logs job/verify-29412345 -c verify)',
    });
    // The last proof still stands as LAST VERIFIED.
    expect(s.lastVerifiedTime).toBe('2026-11-29T05:01:00Z');
  });
});
