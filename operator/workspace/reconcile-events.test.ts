import { describe, expect, it } from 'vitest';
import { worthAnEvent } from './status.js';

describe('Events about a workspace', () => {
  it('say once that a new workspace is Ready, not each part becoming ready on the way', () => {
    for (const type of ['VolumeReady', 'VolumeEncrypted', 'CertificateReady', 'DatabaseReady'])
      expect(worthAnEvent(type, { status: 'True', reason: 'Provisioned' }, false)).toBe(false);
    expect(worthAnEvent('DatabaseReady', { status: 'False', reason: 'Provisioning' }, false)).toBe(false);
    expect(worthAnEvent('Ready', { status: 'False', reason: 'Creating' }, false)).toBe(false);
    expect(worthAnEvent('Ready', { status: 'True', reason: 'Provisioned' }, false)).toBe(true);
  });

  it('warn during provisioning only when someone has to act', () => {
    expect(worthAnEvent('DatabaseReady', { status: 'False', reason: 'ServerNotFound' }, false)).toBe(true);
    expect(worthAnEvent('Ready', { status: 'False', reason: 'NotOwned' }, false)).toBe(true);
    expect(worthAnEvent('Ready', { status: 'False', reason: 'DatabaseNotDropped' }, false)).toBe(true);
  });

  it('tell every degradation and recovery of a workspace that was Ready', () => {
    expect(worthAnEvent('DatabaseReady', { status: 'False', reason: 'ServerUnreachable' }, true)).toBe(true);
    expect(worthAnEvent('Ready', { status: 'False', reason: 'ServerUnreachable' }, true)).toBe(true);
    expect(worthAnEvent('CertificateReady', { status: 'True', reason: 'Issued' }, true)).toBe(true);
  });

  it('tell every result of backups, restore tests and exports, but not a result not known yet', () => {
    expect(worthAnEvent('LastBackupSucceeded', { status: 'True', reason: 'BackupSucceeded' }, false)).toBe(true);
    expect(worthAnEvent('RestoreTestPassed', { status: 'False', reason: 'RestoreTestFailed' }, true)).toBe(true);
    expect(worthAnEvent('LastBackupSucceeded', { status: 'Unknown', reason: 'NoBackupYet' }, true)).toBe(false);
    expect(worthAnEvent('BackupScheduled', { status: 'False', reason: 'ApplyFailed' }, true)).toBe(false);
  });
});
