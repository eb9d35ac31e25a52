// Dedicated mode with provider cloudnative-pg: a CloudNativePG Cluster with
// replicas, storage on the workspace's storage class, TLS from the workspace
// certificate, and the application role bootstrapped from db-app.
import { namespaceOf, type Workspace } from '../../api/workspace.js';
import type { KubeObject } from '../../../kube/rest.js';
import type { ConditionInput } from '../conditions.js';
import { TLS_SECRET } from '../certificate/internal.js';
import { ownedMeta } from '../owner.js';
import { APP_SECRET } from './shared.js';

export const CLUSTER_NAME = 'db';

export function cnpgImage(
  version: string,
  prefix = process.env.HOLDFAST_CNPG_IMAGE ?? 'ghcr.io/cloudnative-pg/postgresql',
): string {
  return `${prefix}:${version}`;
}

/** The service CloudNativePG creates for the primary. */
export function cnpgHost(ws: Workspace): string {
  return `${CLUSTER_NAME}-rw.${namespaceOf(ws.metadata.name)}.svc`;
}

export function desiredCluster(ws: Workspace, storageClass: string | undefined): KubeObject {
  const r = ws.spec.database.resources;
  return {
    apiVersion: 'postgresql.cnpg.io/v1',
    kind: 'Cluster',
    metadata: ownedMeta(ws, CLUSTER_NAME, { labels: { 'holdfast.io/component': 'database' } }),
    spec: {
      instances: ws.spec.database.instances ?? 2,
      imageName: cnpgImage(ws.spec.database.version),
      enableSuperuserAccess: false,
      storage: { size: ws.spec.database.storage, ...(storageClass ? { storageClass } : {}) },
      certificates: { serverTLSSecret: TLS_SECRET, serverCASecret: TLS_SECRET },
      bootstrap: { initdb: { database: 'app', owner: 'app', secret: { name: APP_SECRET } } },
      resources: {
        requests: { cpu: r?.cpu ?? '250m', memory: r?.memory ?? '512Mi' },
        limits: { memory: r?.memory ?? '512Mi' },
      },
    },
  };
}

export const CNPG_MISSING: ConditionInput = {
  type: 'DatabaseReady',
  status: 'False',
  reason: 'CloudNativePGNotInstalled',
  message:
    'spec.database.provider is cloudnative-pg but CloudNativePG is not installed (no clusters.postgresql.cnpg.io API); install it or set spec.database.provider: builtin',
};

export function cnpgCondition(cluster: KubeObject | undefined): ConditionInput {
  const status = cluster?.status as
    | {
        phase?: string;
        readyInstances?: number;
        instances?: number;
        conditions?: { type: string; status: string; message?: string }[];
      }
    | undefined;
  const ready = status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status === 'True') {
    return {
      type: 'DatabaseReady',
      status: 'True',
      reason: 'ClusterReady',
      message: `CloudNativePG cluster ${CLUSTER_NAME}: ${status?.readyInstances ?? '?'}/${status?.instances ?? '?'} instances ready (${status?.phase ?? 'ready'})`,
    };
  }
  return {
    type: 'DatabaseReady',
    status: 'False',
    reason: 'ClusterNotReady',
    message: `CloudNativePG cluster ${CLUSTER_NAME}: ${status?.phase ?? 'waiting for the CloudNativePG operator'}${ready?.message ? ` (${ready.message})` : ''}`,
  };
}
