// What a workspace reconcile reads from and writes with: the caches and
// clients the controller builds once. Its own module so that reconcile and
// deletion can both take it without importing each other.
import type { Logger } from 'pino';
import type { Applier } from '../../kube/apply.js';
import type { EventRecorder } from '../../kube/events.js';
import type { Informer } from '../../kube/informer.js';
import type { KubeObject, Rest } from '../../kube/rest.js';
import type { BackupResourceSpec, BackupResourceStatus, DestinationSpec } from '../api/backup.js';
import type { Workspace } from '../api/workspace.js';
import type { Metrics } from '../runtime/metrics.js';
import type { Authority, SecretObject } from '../tls/authority.js';
import type { ServerPool, SharedServer } from './database/shared.js';
import type { StorageClass } from './volume/desired.js';

export interface Caches {
  workspaces: Informer<Workspace & KubeObject>;
  namespaces: Informer<KubeObject>;
  networkPolicies: Informer<KubeObject>;
  resourceQuotas: Informer<KubeObject>;
  limitRanges: Informer<KubeObject>;
  claims: Informer<KubeObject>;
  storageClasses: Informer<StorageClass>;
  /** The db-tls Secrets of all workspaces. */
  tlsSecrets: Informer<SecretObject>;
  /** The db-app Secrets of all workspaces. */
  appSecrets: Informer<SecretObject>;
  sharedServers: Informer<SharedServer>;
  statefulSets: Informer<KubeObject>;
  services: Informer<KubeObject>;
  configMaps: Informer<KubeObject>;
  /** Backup resources: written by the backup jobs, or created by a person to ask for a backup. */
  backups: Informer<BackupObject>;
  /** Restore resources, created by a person (or kubectl holdfast, or the console) to restore a backup. */
  restores: Informer<RestoreObject>;
  /** The backup Jobs of all workspaces. */
  jobs: Informer<KubeObject>;
  backupDestinations: Informer<BackupDestinationObject>;
}

export interface Deps {
  rest: Rest;
  applier: Applier;
  caches: Caches;
  events: EventRecorder;
  metrics: Metrics;
  log: Logger;
  /** The installation CA, once it exists. */
  authority: () => Authority | undefined;
  /** Domains the internal issuer may sign names under (HOLDFAST_ALLOWED_DNS_SUFFIXES). */
  allowedDnsSuffixes: string[];
  servers: ServerPool;
  /** Every Secret in the operator's namespace (where its CA is), watched. */
  operatorSecrets?: Informer<SecretObject>;
  now?: () => Date;
}

import type { RestoreObject } from './restore-requests.js';
export type { RestoreObject };
export type BackupObject = KubeObject & { spec?: BackupResourceSpec; status?: BackupResourceStatus };
export type BackupDestinationObject = KubeObject & { spec?: DestinationSpec };
