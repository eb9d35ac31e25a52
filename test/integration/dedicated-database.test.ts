// The built-in Dedicated database's objects as the operator builds them are
// accepted by the real apiserver, and the controller manager's pod for them
// is admitted under Pod Security "restricted". On the run's real node, the
// database really runs: PostgreSQL from the local image on the workspace's
// volume with TLS, reached by a client pod over verify-full with the db-app
// Secret, behind NetworkPolicies that real traffic cannot get around.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namespaceOf, WorkspaceSpec, type Workspace } from '../../operator/api/workspace.js';
import { APPLY_PATCH } from '../../kube/apply.js';
import { objectPath, pathOf } from '../../kube/rest.js';
import { desiredNamespace } from '../../operator/workspace/namespace/desired.js';
import { desiredDatabaseObjects } from '../../operator/workspace/database/dedicated.js';
import { DATABASE_ACCESS_LABEL } from '../../operator/workspace/network/desired.js';
import { DATA_CLAIM } from '../../operator/workspace/volume/desired.js';
import { eventually, testNamespace } from '../harness/kube.js';
import { uniqueName } from '../harness/names.js';
import { installCrds, startOperator, type RunningOperator } from '../harness/operator.js';
import { appClientPod, runPod } from '../harness/pods.js';
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

describe('the built-in Dedicated database on the real node', () => {
  const w = new Workspaces();
  let operator: RunningOperator | undefined;
  let storageClass: string;
  let name: string;
  let outsiders: Awaited<ReturnType<typeof testNamespace>> | undefined;

  beforeAll(async () => {
    await installCrds();
    storageClass = await w.storageClass({ encrypted: true });
    outsiders = await testNamespace('outsider');
    operator = await startOperator({ selector: w.selector, leaseName: w.run, name: 'dedicated' });
  });
  afterAll(async () => {
    // The operator deletes what it made (finalizer) while it still runs.
    if (name) await w.delete(name).then(() => w.waitGone(name, 60_000));
    await operator?.stop();
    await outsiders?.remove();
  });

  it('runs PostgreSQL from the local image on its volume, and a client pod connects with db-app over verify-full', async () => {
    const started = Date.now();
    name = await w.create('pg', { volume: { storageClassName: storageClass }, database: { version: '17' } });
    await w.waitForCondition(name, 'Ready', 'True', 120_000);
    const readyMs = Date.now() - started;
    const ns = namespaceOf(name);

    // The data directory is on the workspace's claim: the provisioner's folder on this machine.
    const claim = (await w.object('PersistentVolumeClaim', DATA_CLAIM, ns)) as
      { spec: { volumeName: string } } | undefined;
    const volume = await w.rest.get<{ spec: { local: { path: string } } }>(
      `/api/v1/persistentvolumes/${claim!.spec.volumeName}`,
    );
    expect((await readFile(path.join(volume.spec.local.path, 'pgdata/PG_VERSION'), 'utf8')).trim()).toBe('17');

    const client = await appClientPod(
      ns,
      'client',
      `-tAc "select ssl, version from pg_stat_ssl where pid = pg_backend_pid()" -c "select current_user, current_database(), current_setting('server_version_num')"`,
    );
    expect(client.phase, client.log).toBe('Succeeded');
    expect(client.log).toMatch(/^t\|TLSv1\.[23]$/m);
    expect(client.log).toMatch(/^app\|app\|17\d{4}$/m);
    // The kubelet's own record, to the second: pod created to Ready (volume, initdb, TLS, probe).
    const pod = await w.rest.get<{
      metadata: { creationTimestamp: string };
      status: { conditions: { type: string; lastTransitionTime: string }[] };
    }>(objectPath('Pod', 'db-0', ns));
    const podReady = pod.status.conditions.find((c) => c.type === 'Ready')!.lastTransitionTime;
    const podReadyS = (Date.parse(podReady) - Date.parse(pod.metadata.creationTimestamp)) / 1000;
    console.log(
      `Dedicated workspace Ready ${readyMs} ms after create; its PostgreSQL pod Ready ${podReadyS} s after creation;` +
        ` client pod started in ${client.startMs} ms`,
    );
  });

  // Reaches the database by its Service name, without credentials: a
  // password prompt means the connection got through.
  const probe = (ns: string, tries: number) => `getent hosts db.${ns}.svc >/dev/null || { echo no-dns; exit 2; }
    for i in $(seq ${tries}); do
      if psql "host=db.${ns}.svc dbname=app user=nobody sslmode=require connect_timeout=2" -c 'select 1' </dev/null 2>/tmp/err; then echo reached; exit 0; fi
      if grep -qE 'password|authentication' /tmp/err; then echo reached; exit 0; fi
      sleep 0.5
    done
    cat /tmp/err; echo blocked`;

  it('enforces the workspace NetworkPolicies with real traffic', async () => {
    expect(name, 'the first test creates the workspace').toBeDefined();
    const ns = namespaceOf(name);
    const stranger = await runPod({ namespace: ns, name: 'stranger', script: probe(ns, 3) });
    expect(stranger.log.trim().split('\n').at(-1), stranger.log).toBe('blocked');

    // The right label, from another namespace: the policy admits database
    // clients of the workspace's own namespace only.
    const outsider = await runPod({
      namespace: outsiders!.name,
      name: 'outsider',
      labels: { [DATABASE_ACCESS_LABEL]: 'true' },
      script: probe(ns, 3),
    });
    expect(outsider.log.trim().split('\n').at(-1), outsider.log).toBe('blocked');

    // A new pod is missing from kube-router's allow-lists for about a second
    // on an idle node, and for more than five on one running the whole suite.
    const allowed = await runPod({
      namespace: ns,
      name: 'allowed',
      labels: { [DATABASE_ACCESS_LABEL]: 'true' },
      script: probe(ns, 40),
      timeoutMs: 150_000,
    });
    expect(allowed.log.trim().split('\n').at(-1), allowed.log).toBe('reached');
  });
});
