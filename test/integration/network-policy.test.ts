// The NetworkPolicies the operator writes for each database mode, read back
// from the real apiserver and evaluated (test/harness/netpol.ts) against the
// pods each mode runs: the labels of the built-in StatefulSet as written,
// CloudNativePG's own pod labels and ports (pkg/utils/labels_annotations.go,
// pkg/management/url StatusPort) and the addresses behind Services. No node
// enforces them here; the allows mirror what was proven with real traffic
// under kube-router (recipes/netpol-and-cloudnative-pg.md).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namespaceOf } from '../../operator/api/workspace.js';
import { collectionPath, type KubeObject } from '../../kube/rest.js';
import { eventually } from '../harness/kube.js';
import { uniqueName } from '../harness/names.js';
import { connection, type Cluster, type Endpoint, type NetworkPolicy } from '../harness/netpol.js';
import { ensureNamespace, installCrds, startOperator, type RunningOperator } from '../harness/operator.js';
import { Workspaces } from '../harness/workspaces.js';

describe('network policies of each database mode', () => {
  const w = new Workspaces();
  let operator: RunningOperator;
  let encrypted: string;
  // The address and port the kube-apiserver advertises (the run's node gives
  // it a real one): policies see traffic after kube-proxy's rewrite, so this,
  // not the Service's address, is what instances must be allowed to reach.
  const apiServer = { ip: '', port: 0 };

  beforeAll(async () => {
    await installCrds();
    // No CloudNativePG CRDs here: the policies do not depend on them, and
    // cloudnative-pg.test.ts checks what happens while they are absent.
    encrypted = await w.storageClass({ encrypted: true });
    const slices = await w.rest.get<{
      items: { endpoints: { addresses: string[] }[]; ports: { port: number }[] }[];
    }>('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', {
      labelSelector: 'kubernetes.io/service-name=kubernetes',
    });
    apiServer.ip = slices.items[0]?.endpoints[0]?.addresses[0] ?? '';
    apiServer.port = slices.items[0]?.ports[0]?.port ?? 0;
    expect(apiServer.ip, 'the kube-apiserver advertises an address').not.toBe('');
    operator = await startOperator({ selector: w.selector, leaseName: w.run });
  });
  afterAll(async () => operator?.stop());

  /** Every NetworkPolicy and namespace as the apiserver has them now. */
  async function cluster(): Promise<Cluster> {
    const policies = await w.rest.get<{ items: NetworkPolicy[] }>('/apis/networking.k8s.io/v1/networkpolicies');
    const namespaces = await w.rest.get<{ items: KubeObject[] }>('/api/v1/namespaces');
    return {
      policies: policies.items,
      namespaces: Object.fromEntries(namespaces.items.map((n) => [n.metadata.name, n.metadata.labels ?? {}])),
    };
  }

  /** Waits until the operator has written the workspace's policies (allow-backup-jobs is the last one). */
  async function policiesOf(name: string, expected: string[]): Promise<Cluster> {
    const ns = namespaceOf(name);
    expected = [...expected, 'allow-backup-jobs'];
    return eventually(`${ns}: NetworkPolicies ${expected.join(', ')}`, async () => {
      const c = await cluster();
      const have = c.policies.filter((p) => p.metadata.namespace === ns).map((p) => p.metadata.name);
      return expected.every((e) => have.includes(e)) ? c : undefined;
    });
  }

  const pod = (name: string, namespace: string, labels: Record<string, string> = {}, more: Partial<Endpoint> = {}) => ({
    name,
    namespace,
    labels,
    ...more,
  });
  const expectConnections = (c: Cluster, cases: [Endpoint, Endpoint, number, boolean][]) => {
    const got = cases.map(
      ([from, to, port]) => `${from.name} -> ${to.name}:${port} ${connection(c, from, to, port).allowed}`,
    );
    expect(got).toEqual(cases.map(([from, to, port, allowed]) => `${from.name} -> ${to.name}:${port} ${allowed}`));
  };
  const client = { 'holdfast.io/database-access': 'true' };
  const backup = { 'holdfast.io/component': 'backup' };
  const dns = pod('coredns', 'kube-system', { 'k8s-app': 'kube-dns' });

  it('Dedicated: the application and backup pods reach the database; other namespaces and unlabelled pods do not', async () => {
    const name = await w.create('np-ded', { volume: { storageClassName: encrypted } });
    const other = await w.create('np-other', { volume: { storageClassName: encrypted } });
    const ns = namespaceOf(name);
    await policiesOf(other, ['default-deny']);
    const c = await policiesOf(name, ['default-deny', 'allow-database']);
    // The database pod as the StatefulSet the operator wrote makes it.
    const sts = (await eventually('the StatefulSet', () => w.object('StatefulSet', 'db', ns))) as unknown as {
      spec: { template: { metadata: { labels: Record<string, string> } } };
    };
    const db = pod('db-0', ns, sts.spec.template.metadata.labels);
    expectConnections(c, [
      [pod('app', ns, client), db, 5432, true],
      [pod('backup', ns, backup), db, 5432, true],
      [pod('app', ns, client), db, 22, false],
      [pod('stranger', ns), db, 5432, false],
      [pod('other-app', namespaceOf(other), client), db, 5432, false],
      [pod('app', ns, client), dns, 53, true],
      [db, pod('other-db', namespaceOf(other), sts.spec.template.metadata.labels), 5432, false],
    ]);
  });

  it('Shared: the workspace reaches its SharedDatabaseServer, whether a Service or an address, and nothing else', async () => {
    // A server in the cluster behind a Service (policies see the pod and its
    // target port after DNAT), and one outside at an address.
    const serverNs = uniqueName('pgsrv');
    await ensureNamespace(serverNs);
    await w.rest.request('POST', collectionPath('Service', serverNs), {
      body: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'pg' },
        spec: { selector: { app: 'shared-pg' }, ports: [{ port: 5432, targetPort: 15432 }] },
      },
    });
    const servers = { svc: uniqueName('srv-svc'), ip: uniqueName('srv-ip') };
    for (const [server, host, port] of [
      [servers.svc, `pg.${serverNs}.svc`, 5432],
      [servers.ip, '198.51.100.7', 5433],
    ] as const) {
      await w.rest.request('POST', collectionPath('SharedDatabaseServer'), {
        body: {
          apiVersion: 'holdfast.io/v1alpha1',
          kind: 'SharedDatabaseServer',
          metadata: { name: server },
          spec: {
            host,
            port,
            caSecretRef: { name: 'ca', namespace: 'holdfast-system' },
            adminSecretRef: { name: 'admin', namespace: 'holdfast-system' },
          },
        },
      });
    }
    const shared = (server: string) => ({
      volume: { storageClassName: encrypted },
      database: { mode: 'Shared', serverRef: server },
    });
    const onService = await w.create('np-shs', shared(servers.svc));
    const onAddress = await w.create('np-shi', shared(servers.ip));
    await policiesOf(onService, ['allow-database-clients']);
    const c = await policiesOf(onAddress, ['allow-database-clients']);
    const [a, b] = [namespaceOf(onService), namespaceOf(onAddress)];
    const serverPod = pod('shared-pg-0', serverNs, { app: 'shared-pg' });
    const external = (ip: string): Endpoint => ({ name: ip, ip });
    expectConnections(c, [
      [pod('app', a, client), serverPod, 15432, true],
      [pod('backup', a, backup), serverPod, 15432, true],
      [pod('app', a, client), serverPod, 22, false],
      [pod('app', a, client), pod('not-the-server', serverNs, { app: 'web' }), 15432, false],
      [pod('stranger', a), serverPod, 15432, false],
      [pod('app', b, client), external('198.51.100.7'), 5433, true],
      [pod('backup', b, backup), external('198.51.100.7'), 5433, true],
      [pod('app', b, client), external('198.51.100.8'), 5433, false],
      [pod('app', b, client), external('198.51.100.7'), 22, false],
      [pod('app', b, client), serverPod, 15432, false],
    ]);
    // No database pods in Shared mode, so no ingress allow for them.
    expect(c.policies.filter((p) => p.metadata.namespace === a).map((p) => p.metadata.name)).not.toContain(
      'allow-database',
    );
  });

  it('CloudNativePG: instances reach each other and the kube-apiserver, its operator reaches the status port', async () => {
    const name = await w.create('np-cnpg', {
      volume: { storageClassName: encrypted },
      database: { provider: 'cloudnative-pg', instances: 2 },
    });
    const ns = namespaceOf(name);
    await ensureNamespace('cnpg-system');
    // The policies come before the database in a reconcile: they are there
    // with or without CloudNativePG's CRDs (left to cloudnative-pg.test.ts).
    await eventually('the CloudNativePG policy', () => w.object('NetworkPolicy', 'allow-cloudnative-pg', ns));
    const c = await policiesOf(name, []);
    // The labels CloudNativePG 1.27 puts on an instance pod and a job pod.
    const instance = (n: number, role: string) =>
      pod(`db-${n}`, ns, {
        'cnpg.io/cluster': 'db',
        'cnpg.io/instanceName': `db-${n}`,
        'cnpg.io/podRole': 'instance',
        'cnpg.io/instanceRole': role,
        role,
      });
    const [primary, replica] = [instance(1, 'primary'), instance(2, 'replica')];
    const join = pod('db-2-join', ns, {
      'cnpg.io/cluster': 'db',
      'cnpg.io/instanceName': 'db-2',
      'cnpg.io/jobRole': 'join',
    });
    const cnpgOperator = pod('cnpg-controller-manager', 'cnpg-system', { 'app.kubernetes.io/name': 'cloudnative-pg' });
    const kubeApiServer: Endpoint = { name: 'kube-apiserver', ip: apiServer.ip };
    const other = pod(
      'other',
      namespaceOf(await w.create('np-cnpg-other', { volume: { storageClassName: encrypted } })),
    );
    expectConnections(c, [
      [replica, primary, 5432, true],
      [primary, replica, 5432, true],
      [replica, primary, 8000, true],
      [primary, replica, 8000, true],
      [join, primary, 5432, true],
      [primary, kubeApiServer, apiServer.port, true],
      [join, kubeApiServer, apiServer.port, true],
      [primary, kubeApiServer, 443, false],
      [primary, { name: 'elsewhere', ip: '203.0.113.5' }, apiServer.port, false],
      [cnpgOperator, primary, 8000, true],
      [cnpgOperator, replica, 8000, true],
      [pod('app', ns, client), primary, 5432, true],
      [pod('backup', ns, backup), replica, 5432, true],
      [pod('app', ns, client), primary, 8000, false],
      [pod('stranger', ns), primary, 5432, false],
      [other, primary, 8000, false],
      [pod('impostor', 'default', { 'app.kubernetes.io/name': 'cloudnative-pg' }), primary, 8000, false],
      [primary, dns, 53, true],
    ]);
    // What the operator read: the kube-apiserver's own address, not the Service's.
    const egress = c.policies.filter((p) => p.metadata.namespace === ns).map((p) => p.spec.egress);
    expect(JSON.stringify(egress)).toContain(`"${apiServer.ip}/32"`);
  });
});
