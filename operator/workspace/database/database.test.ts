import { describe, expect, it } from 'vitest';
import { WorkspaceSpec, type Workspace } from '../../api/workspace.js';
import { generatePassword, sharedIdentifier } from '../../database/shared.js';
import { PG_HBA, dedicatedCondition, desiredDatabaseObjects } from './dedicated.js';
import { desiredAppSecret } from './shared.js';

const ws = (spec: Record<string, unknown> = {}): Workspace => ({
  apiVersion: 'holdfast.io/v1alpha1',
  kind: 'Workspace',
  metadata: { name: 'acme', uid: 'u' },
  spec: WorkspaceSpec.parse(spec),
});

describe('shared identifiers and passwords', () => {
  it('maps a workspace name to a safe identifier', () => {
    expect(sharedIdentifier('acme-prod-1')).toBe('ws_acme_prod_1');
    expect(() => sharedIdentifier('x"; drop table users; --')).toThrow(/safe database identifier/);
    expect(() => sharedIdentifier('Robert')).toThrow();
  });
  it('generates passwords of letters and digits only', () => {
    const p = generatePassword();
    expect(p).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(new Set(Array.from({ length: 100 }, () => generatePassword())).size).toBe(100);
  });
});

describe('application Secret', () => {
  it('has the keys frameworks expect and a verify-full URI', () => {
    const s = desiredAppSecret(ws(), {
      host: 'db.example',
      port: 5432,
      dbname: 'd',
      user: 'u',
      password: 'p@ss',
      ca: 'CA',
    });
    expect(s.type).toBe('kubernetes.io/basic-auth');
    const d = Object.fromEntries(Object.entries(s.data!).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    expect(d).toMatchObject({
      host: 'db.example',
      port: '5432',
      dbname: 'd',
      user: 'u',
      username: 'u',
      password: 'p@ss',
      'ca.crt': 'CA',
    });
    expect(d.uri).toBe('postgresql://u:p%40ss@db.example:5432/d?sslmode=verify-full');
  });
});

describe('dedicated database', () => {
  it('builds a restricted, TLS-only StatefulSet on the workspace volume', () => {
    const objs = desiredDatabaseObjects(ws({ database: { version: '15' } }));
    interface PodSpec {
      securityContext: unknown;
      containers: { image: string; args: string[] }[];
      volumes: unknown[];
    }
    const sts = objs.find((o) => o.kind === 'StatefulSet') as unknown as { spec: { template: { spec: PodSpec } } };
    const pod = sts.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.containers[0]?.image).toBe('docker.io/library/postgres:15');
    expect(pod.containers[0]?.args).toEqual(
      expect.arrayContaining(['ssl=on', 'ssl_min_protocol_version=TLSv1.2', 'password_encryption=scram-sha-256']),
    );
    expect(pod.volumes).toEqual(
      expect.arrayContaining([{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }]),
    );
    expect(PG_HBA).not.toMatch(/^host\s/m);
    expect(
      objs
        .filter((o) => o.kind === 'Service')
        .map(
          (o) => (o.spec as { type?: string; clusterIP?: string }).type ?? (o.spec as { clusterIP: string }).clusterIP,
        ),
    ).toEqual(['ClusterIP', 'None']);
  });
  it('is ready when the StatefulSet has a ready replica', () => {
    expect(dedicatedCondition(undefined)).toMatchObject({ status: 'False', reason: 'Starting' });
    expect(
      dedicatedCondition({
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 'db' },
        status: { readyReplicas: 1 },
      }),
    ).toMatchObject({ status: 'True' });
  });
});
