// NetworkPolicies of a workspace namespace: deny everything, then allow by
// name only what the workspace's database mode needs. Policies match packets
// after kube-proxy's DNAT, so peers are pods and real addresses, never
// Service IPs: what sits behind a name is resolved in peers.ts.
import type { KubeObject } from '../../../kube/rest.js';
import type { Workspace } from '../../api/workspace.js';
import { COMPONENT_LABEL, ownedMeta } from '../owner.js';

export const DATABASE_PORT = 5432;
/** The instance manager's status port of CloudNativePG (pkg/management/url StatusPort). */
export const CNPG_STATUS_PORT = 8000;
/** Pods with this label may reach the workspace database. */
export const DATABASE_ACCESS_LABEL = 'holdfast.io/database-access';
/** The label CloudNativePG puts on every pod of a Cluster (instances and their jobs). */
export const CNPG_CLUSTER_LABEL = 'cnpg.io/cluster';
/** The label of the CloudNativePG operator's pods in its release manifest and Helm chart. */
export const CNPG_OPERATOR_LABELS = { 'app.kubernetes.io/name': 'cloudnative-pg' };
/** The chart's operator pods. */
export const HOLDFAST_OPERATOR_LABELS = {
  'app.kubernetes.io/name': 'holdfast',
  'app.kubernetes.io/component': 'operator',
};
/** Where a CloudNativePG instance serves its Prometheus metrics (plain HTTP). */
export const CNPG_METRICS_PORT = 9187;

type Policy = KubeObject & { spec: Record<string, unknown> };
type Peer = Record<string, unknown>;
export interface PolicyPort {
  protocol: 'TCP';
  port: number | string;
}

/** What lies outside the namespace that a mode needs, resolved from the cluster (see peers.ts). */
export interface NetworkPeers {
  /** Shared: the SharedDatabaseServer as seen after DNAT; `to` empty means any address (an external host name). */
  sharedServer?: { to: Peer[]; ports: PolicyPort[] };
  /** CloudNativePG: the kube-apiserver's real addresses (endpoints of Service default/kubernetes). */
  apiServer: { ip: string; port: number }[];
  /** The ports of the workspace's S3 backup destinations. */
  objectStorePorts?: number[];
  /** CloudNativePG: the namespace its operator runs in. */
  cnpgNamespace: string;
  /** Where Holdfast's operator runs (it reads the WAL archive's progress from CloudNativePG's instances). */
  operatorNamespace?: string;
}

function policy(ws: Workspace, name: string, spec: Record<string, unknown>): Policy {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: ownedMeta(ws, name), spec };
}

const tcp = (...ports: (number | string)[]): PolicyPort[] => ports.map((port) => ({ protocol: 'TCP', port }));
const databaseClients = { matchLabels: { [DATABASE_ACCESS_LABEL]: 'true' } };
const backupPods = {
  matchExpressions: [{ key: COMPONENT_LABEL, operator: 'In', values: ['backup', 'verify', 'export', 'restore'] }],
};

export function ipBlock(ip: string): Peer {
  return { ipBlock: { cidr: ip.includes(':') ? `${ip}/128` : `${ip}/32` } };
}

/** The database's pods: with CloudNativePG, those of every Cluster in the namespace (the workspace's, and recovery Clusters of Restores to a point in time). */
function databasePodsOf(ws: Workspace): Peer {
  return ws.spec.database.provider === 'cloudnative-pg'
    ? { matchExpressions: [{ key: CNPG_CLUSTER_LABEL, operator: 'Exists' }] }
    : { matchLabels: { [COMPONENT_LABEL]: 'database' } };
}

export function desiredNetworkPolicies(ws: Workspace, peers: NetworkPeers): Policy[] {
  const policies: Policy[] = [
    policy(ws, 'default-deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
    policy(ws, 'allow-dns', {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        {
          to: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
              podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
            },
          ],
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
      ],
    }),
  ];
  // Where the database is: its pods here, or the shared server elsewhere
  // (not yet known while the SharedDatabaseServer is missing).
  let database: { to: Peer[]; ports: PolicyPort[] } | undefined;
  if (ws.spec.database.mode === 'Shared') {
    database = peers.sharedServer;
  } else {
    const databasePods = databasePodsOf(ws);
    database = { to: [{ podSelector: databasePods }], ports: tcp(DATABASE_PORT) };
    policies.push(
      policy(ws, 'allow-database', {
        podSelector: databasePods,
        policyTypes: ['Ingress'],
        ingress: [{ from: [{ podSelector: databaseClients }, { podSelector: backupPods }], ports: tcp(DATABASE_PORT) }],
      }),
    );
    if (ws.spec.database.provider === 'cloudnative-pg') policies.push(cloudNativePgPolicy(ws, databasePods, peers));
  }
  const toDatabase = database ? [{ ...(database.to.length ? { to: database.to } : {}), ports: database.ports }] : [];
  if (toDatabase.length > 0) {
    policies.push(
      policy(ws, 'allow-database-clients', {
        podSelector: databaseClients,
        policyTypes: ['Egress'],
        egress: toDatabase,
      }),
    );
  }
  const destinations = ws.spec.backup.destinations ?? [];
  policies.push(
    policy(ws, 'allow-backup-jobs', {
      podSelector: backupPods,
      policyTypes: ['Egress'],
      egress: [
        ...toDatabase,
        // Object stores are addressed by name, which a NetworkPolicy cannot
        // express: their ports (HTTPS unless an endpoint names another) to
        // anywhere, for the backup jobs only, and only when the workspace has
        // destinations; and the kube-apiserver, where the jobs record Backups.
        ...(destinations.length > 0
          ? [{ ports: tcp(...(peers.objectStorePorts?.length ? peers.objectStorePorts : [443])) }]
          : []),
        ...(destinations.length > 0 ? peers.apiServer.map((a) => ({ to: [ipBlock(a.ip)], ports: tcp(a.port) })) : []),
      ],
    }),
  );
  return policies;
}

/**
 * What a CloudNativePG Cluster needs between its own pods and with the
 * outside (checked with real traffic under kube-router): instances and their
 * initdb/join jobs replicate and clone over 5432 and check each other on the
 * status port; the instance manager watches its Cluster on the kube-apiserver;
 * the CloudNativePG operator polls each instance's status port. With
 * spec.backup.pointInTime they also reach the object store, where Barman's
 * cloud tools archive WAL and base backups and recovery reads them back.
 */
function cloudNativePgPolicy(ws: Workspace, clusterPods: Peer, peers: NetworkPeers): Policy {
  const own = [{ podSelector: clusterPods }];
  return policy(ws, 'allow-cloudnative-pg', {
    podSelector: clusterPods,
    policyTypes: ['Ingress', 'Egress'],
    ingress: [
      { from: own, ports: tcp(DATABASE_PORT, CNPG_STATUS_PORT) },
      {
        from: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': peers.cnpgNamespace } },
            podSelector: { matchLabels: CNPG_OPERATOR_LABELS },
          },
        ],
        ports: tcp(CNPG_STATUS_PORT),
      },
      // Holdfast's operator reads how far the WAL archive has come from the instances' metrics.
      ...(ws.spec.backup.pointInTime && peers.operatorNamespace
        ? [
            {
              from: [
                {
                  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': peers.operatorNamespace } },
                  podSelector: { matchLabels: HOLDFAST_OPERATOR_LABELS },
                },
              ],
              ports: tcp(CNPG_METRICS_PORT),
            },
          ]
        : []),
    ],
    egress: [
      { to: own, ports: tcp(DATABASE_PORT, CNPG_STATUS_PORT) },
      ...peers.apiServer.map((a) => ({ to: [ipBlock(a.ip)], ports: tcp(a.port) })),
      ...(ws.spec.backup.pointInTime
        ? [{ ports: tcp(...(peers.objectStorePorts?.length ? peers.objectStorePorts : [443])) }]
        : []),
    ],
  });
}
