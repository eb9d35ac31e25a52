import type { KubeObject } from '../../../kube/rest.js';
import { namespaceOf, type Workspace } from '../../api/workspace.js';
import { ownedMeta } from '../owner.js';

/**
 * The workspace namespace, with Pod Security `restricted` enforced (and
 * audited and warned), so no workload in it can run privileged.
 */
export function desiredNamespace(ws: Workspace): KubeObject {
  const meta = ownedMeta(ws, namespaceOf(ws.metadata.name), {
    clusterScoped: true,
    labels: {
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/enforce-version': 'latest',
      'pod-security.kubernetes.io/audit': 'restricted',
      'pod-security.kubernetes.io/warn': 'restricted',
    },
  });
  if (ws.spec.tenant) meta.labels!['holdfast.io/tenant'] = ws.spec.tenant;
  return { apiVersion: 'v1', kind: 'Namespace', metadata: meta };
}
