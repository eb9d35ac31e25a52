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
});
