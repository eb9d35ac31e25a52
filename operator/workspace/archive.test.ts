import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../kube/rest.js';
import { archivedWorkspace, finalBackupName } from './archive.js';

const ns = (name: string, annotations: Record<string, string>, owned = false): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: {
    name,
    annotations,
    ...(owned
      ? { ownerReferences: [{ apiVersion: 'holdfast.io/v1alpha1', kind: 'Workspace', name: 'acme', uid: 'u2' }] }
      : {}),
  },
});

describe('archivedWorkspace', () => {
  const marks = { 'holdfast.io/archive-of': 'acme/u1', 'holdfast.io/erase-after': '2027-11-30T00:00:00Z' };

  it('is the workspace whose archive the namespace is', () => {
    expect(archivedWorkspace(ns('ws-acme', marks))).toBe('acme');
  });

  it('is nothing for a namespace a Workspace owns again, marked for another name, or marked by hand', () => {
    expect(archivedWorkspace(ns('ws-acme', marks, true))).toBeUndefined();
    expect(archivedWorkspace(ns('ws-other', marks))).toBeUndefined();
    expect(archivedWorkspace(ns('ws-acme', { 'holdfast.io/erase-after': '2020-01-01T00:00:00Z' }))).toBeUndefined();
    expect(archivedWorkspace(ns('ws-acme', { ...marks, 'holdfast.io/archive-of': 'acme' }))).toBeUndefined();
  });
});

describe('finalBackupName', () => {
  it('differs between two Workspaces of the same name', () => {
    const a = finalBackupName({ metadata: { name: 'acme', uid: '0a1b2c3d-0000-0000-0000-000000000000' } });
    const b = finalBackupName({ metadata: { name: 'acme', uid: '9f8e7d6c-0000-0000-0000-000000000000' } });
    expect(a).toBe('acme-final-0a1b2c3d');
    expect(a).not.toBe(b);
  });
});
