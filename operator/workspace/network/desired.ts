// NetworkPolicies of a workspace namespace: deny everything, then allow by
// name only what the workspace needs.
import type { KubeObject } from '../../../kube/rest.js';
import type { Workspace } from '../../api/workspace.js';
import { COMPONENT_LABEL, ownedMeta } from '../owner.js';

export const DATABASE_PORT = 5432;
/** Pods with this label may reach the workspace database. */
export const DATABASE_ACCESS_LABEL = 'holdfast.io/database-access';

type Policy = KubeObject & { spec: Record<string, unknown> };

function policy(ws: Workspace, name: string, spec: Record<string, unknown>): Policy {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: ownedMeta(ws, name), spec };
}

const databasePods = { matchLabels: { [COMPONENT_LABEL]: 'database' } };
const databaseClients = { matchLabels: { [DATABASE_ACCESS_LABEL]: 'true' } };
const backupPods = {
  matchExpressions: [{ key: COMPONENT_LABEL, operator: 'In', values: ['backup', 'verify', 'export', 'restore'] }],
};

export function desiredNetworkPolicies(ws: Workspace): Policy[] {
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
    policy(ws, 'allow-database', {
      podSelector: databasePods,
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ podSelector: databaseClients }, { podSelector: backupPods }],
          ports: [{ protocol: 'TCP', port: DATABASE_PORT }],
        },
      ],
    }),
    policy(ws, 'allow-database-clients', {
      podSelector: databaseClients,
      policyTypes: ['Egress'],
      egress: [{ to: [{ podSelector: databasePods }], ports: [{ protocol: 'TCP', port: DATABASE_PORT }] }],
    }),
  ];
  const destinations = ws.spec.backup.destinations ?? [];
  const jobsEgress = [{ podSelector: databasePods }];
  policies.push(
    policy(ws, 'allow-backup-jobs', {
      podSelector: backupPods,
      policyTypes: ['Egress'],
      egress: [
        { to: jobsEgress, ports: [{ protocol: 'TCP', port: DATABASE_PORT }] },
        // Object stores are addressed by name, which a NetworkPolicy cannot
        // express: HTTPS to anywhere, for the backup jobs only, and only when
        // the workspace has destinations.
        ...(destinations.length > 0 ? [{ ports: [{ protocol: 'TCP', port: 443 }] }] : []),
      ],
    }),
  );
  return policies;
}
