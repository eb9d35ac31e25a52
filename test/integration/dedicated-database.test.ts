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
import { installCrds, startOperator, type RunningOperator } from '../harness/operator.js';
import { runLikeThePod, type PodSpec } from '../harness/postgres-pod.js';
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

  describe('as the operator makes them', () => {
    let operator: RunningOperator;
    let wsName: string;
    let ns: string;
    beforeAll(async () => {
      await installCrds();
      const encrypted = await w.storageClass({ encrypted: true });
      operator = await startOperator({ selector: w.selector, leaseName: w.run });
      wsName = await w.create('dedicated', { volume: { storageClassName: encrypted }, deletionPolicy: 'Delete' });
      ns = namespaceOf(wsName);
      await eventually('the StatefulSet', async () => w.object('StatefulSet', 'db', ns), 30_000);
    });
    afterAll(async () => {
      await w.delete(wsName);
      await operator?.stop();
    });

    const secret = async (n: string) => {
      const s = (await w.object('Secret', n, ns)) as unknown as { data: Record<string, string> } | undefined;
      return Object.fromEntries(
        Object.entries(s?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
      );
    };

    it('keep the superuser password apart from the application, and trust no connection', async () => {
      const sts = (await w.object('StatefulSet', 'db', ns)) as unknown as { spec: { template: { spec: PodSpec } } };
      const pod = sts.spec.template.spec;
      const env = Object.fromEntries(pod.containers[0]!.env.map((e) => [e.name, e.value]));
      expect(env.POSTGRES_USER).toBe('postgres');
      expect(env.POSTGRES_DB).toBeUndefined();
      expect(env.POSTGRES_INITDB_ARGS).not.toContain('trust');
      const config = (await w.object('ConfigMap', 'db-config', ns)) as unknown as { data: Record<string, string> };
      expect(config.data['pg_hba.conf']).not.toMatch(/trust/);
      const superuser = await secret('db-superuser');
      const app = await secret('db-app');
      expect(superuser.username).toBe('postgres');
      expect(superuser.password).toMatch(/^[A-Za-z0-9]{32}$/);
      expect(app.user).toBe('app');
      expect(Object.values(app)).not.toContain(superuser.password);
    });

    it('initialise a PostgreSQL where the application role owns its database and nothing more', async () => {
      const sts = (await w.object('StatefulSet', 'db', ns)) as unknown as { spec: { template: { spec: PodSpec } } };
      const pod = sts.spec.template.spec;
      const config = (await w.object('ConfigMap', 'db-config', ns)) as unknown as { data: Record<string, string> };
      const superuser = await secret('db-superuser');
      const app = await secret('db-app');
      // The pod's file system, under a temporary directory: what its volumes hold.
      const db = await runLikeThePod(pod, {
        'etc/holdfast/config/init.sh': config.data['init.sh']!,
        'etc/holdfast/config/pg_hba.conf': config.data['pg_hba.conf']!,
        'etc/holdfast/credentials/superuser-password': superuser.password!,
        'etc/holdfast/credentials/app-password': app.password!,
      });
      try {
        const asApp = db.connect('app', app.password!, 'app');
        const [me] = await asApp<{ rolsuper: boolean; rolcreatedb: boolean; rolcreaterole: boolean; owner: string }[]>`
          select rolsuper, rolcreatedb, rolcreaterole,
                 (select pg_get_userbyid(datdba) from pg_database where datname = 'app') as owner
          from pg_roles where rolname = current_user`;
        expect(me).toEqual({ rolsuper: false, rolcreatedb: false, rolcreaterole: false, owner: 'app' });
        await asApp.end();
        const elsewhere = db.connect('app', app.password!, 'postgres');
        await expect(elsewhere`select 1`).rejects.toThrow(/permission denied for database/);
        await elsewhere.end();

        const asSuperuser = db.connect('postgres', superuser.password!, 'postgres');
        const rules = await asSuperuser<{ type: string; auth_method: string }[]>`
          select type, auth_method from pg_hba_file_rules`;
        expect(rules.length).toBeGreaterThan(0);
        expect(rules.filter((r) => r.auth_method === 'trust')).toEqual([]);
        await asSuperuser.end();
        // The socket inside the pod asks for a password too.
        const local = db.connectLocal('app', 'app');
        await expect(local`select 1`).rejects.toThrow(/password/);
        await local.end();
      } finally {
        await db.stop();
      }
    });
  });
});
