// Chaos on a control plane of its own (the run's shared one stays up): etcd
// and the apiserver crash and come back while the operator creates
// workspaces; and a watch resumed across an apiserver restart is answered
// 410 Gone, so the operator must list again, without missing the edits made
// while it was not looking. Neither time may the operator restart.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allCrds } from '../../operator/api/crd.js';
import { API_VERSION, namespaceOf, type Workspace } from '../../operator/api/workspace.js';
import { APPLY_PATCH } from '../../kube/apply.js';
import { Rest, collectionPath, objectPath, pathOf, type KubeObject } from '../../kube/rest.js';
import { eventually } from '../harness/kube.js';
import { startOperator, type RunningOperator } from '../harness/operator.js';
import { startPostgres, type TestPostgres } from '../harness/postgres.js';
import { LOCAL_PROVISIONER } from '../../hack/local-volumes.js';
import { toBase64 } from '../../kube/secret-data.js';

const run = promisify(execFile);
const script = path.resolve(import.meta.dirname, '../../hack/control-plane.sh');
const COUNT = 20;
const NS = 'holdfast-system';

describe('the control plane failing under the operator', { timeout: 900_000 }, () => {
  let dir: string;
  let rest: Rest;
  let pg: TestPostgres;
  let operator: RunningOperator;
  const cp = (...args: string[]) => run(script, [args[0]!, dir, ...args.slice(1)]);

  const create = (name: string) =>
    rest.request('POST', collectionPath('Workspace'), {
      body: {
        apiVersion: API_VERSION,
        kind: 'Workspace',
        metadata: { name },
        spec: {
          volume: { storageClassName: 'chaos' },
          database: { mode: 'Shared', serverRef: 'chaos' },
          deletionPolicy: 'Delete',
        },
      },
    });
  const ready = async (name: string) =>
    (await rest.get<Workspace>(objectPath('Workspace', name))).status?.conditions?.some(
      (c) => c.type === 'Ready' && c.status === 'True',
    ) ?? false;
  const quotaCpu = async (name: string): Promise<string | undefined> => {
    const quota = await rest.find<KubeObject & { spec: { hard: Record<string, string> } }>(
      objectPath('ResourceQuota', 'workspace', namespaceOf(name)),
    );
    return quota?.spec.hard['requests.cpu'];
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'holdfast-chaos-'));
    const { stdout } = await run(script, ['start', dir, '--owner-pid', String(process.pid)]);
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(stdout.trim().split('\n').at(-1)!);
    rest = new Rest(kc);
    const apply = (o: KubeObject) =>
      rest.request('PATCH', pathOf(o), {
        body: o,
        contentType: APPLY_PATCH,
        query: { fieldManager: 'chaos', force: 'true' },
      });
    for (const crd of allCrds()) await apply(crd as unknown as KubeObject);
    pg = await startPostgres();
    await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    await apply({
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: 'chaos', annotations: { 'holdfast.io/encrypted': 'true' } },
      provisioner: LOCAL_PROVISIONER,
      volumeBindingMode: 'WaitForFirstConsumer',
    });
    await apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'chaos-admin', namespace: NS },
      data: { username: toBase64(pg.user), password: toBase64(pg.password) },
    });
    await apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'chaos-ca', namespace: NS },
      data: { 'ca.crt': toBase64(pg.ca) },
    });
    await apply({
      apiVersion: API_VERSION,
      kind: 'SharedDatabaseServer',
      metadata: { name: 'chaos' },
      spec: {
        host: 'localhost',
        port: pg.port,
        caSecretRef: { name: 'chaos-ca', namespace: NS },
        adminSecretRef: { name: 'chaos-admin', namespace: NS },
      },
    });
    await eventually('the CRDs served', async () =>
      (await rest.get<{ items: unknown[] }>(collectionPath('Workspace')).catch(() => undefined)) ? true : undefined,
    );
    // Cluster admin on this control plane: the chart's accounts live on the run's shared one.
    operator = await startOperator({
      selector: '',
      leaseName: 'chaos',
      leaseNamespace: NS,
      env: { KUBECONFIG: path.join(dir, 'kubeconfig') },
    });
  });
  afterAll(async () => {
    await operator?.stop();
    await pg?.stop();
    if (dir) {
      await run(script, ['stop', dir]);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reconnects after etcd and the apiserver crash mid-burst, and converges without restarting', async () => {
    const names = Array.from({ length: COUNT }, (_, i) => `crash-${i}`);
    for (const n of names.slice(0, COUNT / 2)) await create(n);
    await cp('crash', 'kube-apiserver', 'etcd');
    await new Promise((r) => setTimeout(r, 3000));
    await cp('restart', 'etcd', 'kube-apiserver');
    for (const n of names.slice(COUNT / 2)) await create(n);
    for (const n of names) await eventually(`${n} Ready`, async () => ((await ready(n)) ? true : undefined), 180_000);
    expect(operator.process.exitCode).toBeNull();
  });

  it('lists again after 410 Gone and misses none of the edits made meanwhile', async () => {
    const names = Array.from({ length: 5 }, (_, i) => `crash-${i}`);
    const lists = await operator.metric('holdfast_api_requests_total', { method: 'GET' });
    // The operator looks away (its process stopped) while the apiserver
    // restarts, which ends its watches, and while the edits are made on the
    // new one; etcd then forgets the history before now, as its periodic
    // compaction would. The operator's watches resume from a
    // resourceVersion that is gone: 410 Gone.
    process.kill(operator.process.pid!, 'SIGSTOP');
    try {
      await cp('crash', 'kube-apiserver');
      await cp('restart', 'kube-apiserver');
      for (const n of names)
        await rest.request('PATCH', objectPath('Workspace', n), {
          body: { spec: { quota: { cpu: '3' } } },
          contentType: 'application/merge-patch+json',
        });
      const etcd = /HOLDFAST_ETCD=(\S+)/.exec(await readFile(path.join(dir, 'env'), 'utf8'))![1]!;
      const etcdApi = (call: string, body: unknown) =>
        fetch(`${etcd}/v3/${call}`, { method: 'POST', body: JSON.stringify(body) }).then(
          (r) => r.json() as Promise<{ header: { revision: string } }>,
        );
      const { header } = await etcdApi('kv/range', { key: Buffer.from('/').toString('base64') });
      await etcdApi('kv/compaction', { revision: header.revision, physical: true });
    } finally {
      process.kill(operator.process.pid!, 'SIGCONT');
    }
    for (const n of names)
      await eventually(`${n} quota edited`, async () => ((await quotaCpu(n)) === '3' ? true : undefined), 120_000);
    // Lists went out again: the watches were not simply resumed.
    expect(await operator.metric('holdfast_api_requests_total', { method: 'GET' })).toBeGreaterThan(lists);
    expect(operator.process.exitCode).toBeNull();
  });
});
