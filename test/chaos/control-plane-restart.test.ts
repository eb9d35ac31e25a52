// Chaos on a control plane of its own (the run's shared one stays up): etcd
// and the apiserver crash and come back while the operator creates
// workspaces; and a watch resumed across an apiserver restart is answered
// 410 Gone, so the operator must list again, without missing the edits made
// while it was not looking. Neither time may the operator restart.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, namespaceOf, type Workspace } from '../../operator/api/workspace.js';
import { collectionPath, objectPath, type KubeObject, type Rest } from '../../kube/rest.js';
import { eventually } from '../harness/kube.js';
import { startOperator, type RunningOperator } from '../harness/operator.js';
import { OPERATOR_NAMESPACE, startOwnControlPlane, type OwnControlPlane } from '../harness/own-control-plane.js';
import { startPostgres, type TestPostgres } from '../harness/postgres.js';
import { scaled } from './scale.js';

const COUNT = scaled(20);

describe('the control plane failing under the operator', { timeout: scaled(900_000) }, () => {
  let plane: OwnControlPlane;
  let dir: string;
  let rest: Rest;
  let pg: TestPostgres;
  let operator: RunningOperator;

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
    plane = await startOwnControlPlane('chaos');
    ({ dir, rest } = plane);
    pg = await startPostgres();
    await plane.sharedServer(pg, 'chaos');
    // Cluster admin on this control plane: the chart's accounts live on the run's shared one.
    operator = await startOperator({
      selector: '',
      leaseName: 'chaos',
      leaseNamespace: OPERATOR_NAMESPACE,
      env: { KUBECONFIG: plane.kubeconfig },
    });
  });
  afterAll(async () => {
    await operator?.stop();
    await pg?.stop();
    await plane?.stop();
  });

  it('reconnects after etcd and the apiserver crash mid-burst, and converges without restarting', async () => {
    const names = Array.from({ length: COUNT }, (_, i) => `crash-${i}`);
    for (const n of names.slice(0, COUNT / 2)) await create(n);
    await plane.control('crash', 'kube-apiserver', 'etcd');
    await new Promise((r) => setTimeout(r, 3000));
    await plane.control('restart', 'etcd', 'kube-apiserver');
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
      await plane.control('crash', 'kube-apiserver');
      await plane.control('restart', 'kube-apiserver');
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
