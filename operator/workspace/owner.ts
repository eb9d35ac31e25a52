// Labels and owner references shared by everything a Workspace becomes.
import type { V1OwnerReference } from '@kubernetes/client-node';
import type { ObjectMeta } from '../../kube/rest.js';
import { API_VERSION, WORKSPACE_KIND, namespaceOf, type Workspace } from '../api/workspace.js';

export const WORKSPACE_LABEL = 'holdfast.io/workspace';
export const COMPONENT_LABEL = 'holdfast.io/component';
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'holdfast' } as const;

export function ownerReference(ws: Workspace): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: WORKSPACE_KIND,
    name: ws.metadata.name,
    uid: ws.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Metadata for an object owned by `ws`, in its namespace unless cluster-scoped. */
export function ownedMeta(
  ws: Workspace,
  name: string,
  opts: { clusterScoped?: boolean; labels?: Record<string, string> } = {},
): ObjectMeta {
  return {
    name,
    ...(opts.clusterScoped ? {} : { namespace: namespaceOf(ws.metadata.name) }),
    labels: { ...MANAGED_BY, [WORKSPACE_LABEL]: ws.metadata.name, ...(opts.labels ?? {}) },
    ownerReferences: [ownerReference(ws)],
  };
}
