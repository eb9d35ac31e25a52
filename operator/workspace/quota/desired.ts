import type { KubeObject } from '../../../kube/rest.js';
import type { Workspace } from '../../api/workspace.js';
import { ownedMeta } from '../owner.js';

export function desiredResourceQuota(ws: Workspace): KubeObject {
  const q = ws.spec.quota;
  return {
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: ownedMeta(ws, 'workspace'),
    spec: {
      hard: {
        'requests.cpu': q.cpu,
        'requests.memory': q.memory,
        'requests.storage': q.storage,
        pods: String(q.pods),
        persistentvolumeclaims: '10',
        'services.loadbalancers': '0',
        'services.nodeports': '0',
      },
    },
  };
}

/** Defaults for containers that do not say, so the quota can admit them. */
export function desiredLimitRange(ws: Workspace): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'LimitRange',
    metadata: ownedMeta(ws, 'workspace-defaults'),
    spec: {
      limits: [
        {
          type: 'Container',
          defaultRequest: { cpu: '100m', memory: '128Mi' },
          default: { cpu: '1', memory: '1Gi' },
        },
      ],
    },
  };
}
