// The built-in Dedicated database's objects as the operator builds them are
// accepted by the real apiserver, and the controller manager's pod for them
// is admitted under Pod Security "restricted".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namespaceOf, WorkspaceSpec, type Workspace } from '../../operator/api/workspace.js';
import { APPLY_PATCH } from '../../kube/apply.js';
import { pathOf } from '../../kube/rest.js';
import { desiredNamespace } from '../../operator/workspace/namespace/desired.js';
import { desiredDatabaseObjects } from '../../operator/workspace/database/dedicated.js';
import { eventually } from '../harness/kube.js';
import { uniqueName } from '../harness/names.js';
import { Workspaces } from '../harness/workspaces.js';

describe('Dedicated database objects', () => {
  const w = new Workspaces();
  const name = uniqueName('dedicated');
  const ws: Workspace = {
    apiVersion: 'holdfast.io/v1alpha1',
    kind: 'Workspace',
    metadata: { name, uid: '00000000-0000-0000-0000-000000000001' },
    spec: WorkspaceSpec.parse({ database: { version: '16', resources: { cpu: '500m', memory: '1Gi' } } }),
  };
  // Applied without owner references: this test has no Workspace object.
  const strip = <T extends { metadata: object }>(o: T): T => ({
    ...o,
    metadata: { ...o.metadata, ownerReferences: undefined },
  });

  beforeAll(async () => {
    await w.rest.request('PATCH', pathOf(desiredNamespace(ws)), {
      body: strip(desiredNamespace(ws)),
      contentType: APPLY_PATCH,
      query: { fieldManager: 'holdfast-test', force: 'true' },
    });
    await eventually('default ServiceAccount', async () => w.object('ServiceAccount', 'default', namespaceOf(name)));
  });
  afterAll(async () => {
    await w.rest.request('DELETE', `/api/v1/namespaces/${namespaceOf(name)}`).catch(() => undefined);
  });

  it('are accepted by the apiserver, and the pod passes restricted admission', async () => {
    for (const obj of desiredDatabaseObjects(ws)) {
      await w.rest.request('PATCH', pathOf(obj), {
        body: strip(obj),
        contentType: APPLY_PATCH,
        query: { fieldManager: 'holdfast-test', force: 'true', fieldValidation: 'Strict' },
      });
    }
    const pod = await eventually(
      'pod db-0 created by the StatefulSet controller',
      async () =>
        w.rest.get<{ spec: { containers: { image: string; securityContext: Record<string, unknown> }[] } }>(
          `/api/v1/namespaces/${namespaceOf(name)}/pods/db-0`,
        ),
      30_000,
    );
    expect(pod.spec.containers[0]?.image).toBe('docker.io/library/postgres:16');
    expect(pod.spec.containers[0]?.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    const events = await w.rest.get<{ items: { reason: string; message?: string }[] }>(
      `/api/v1/namespaces/${namespaceOf(name)}/events`,
    );
    expect(events.items.filter((e) => e.reason === 'FailedCreate').map((e) => e.message)).toEqual([]);
  });
});
