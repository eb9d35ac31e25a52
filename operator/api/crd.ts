// Builds Holdfast's CustomResourceDefinitions from the zod schemas. The
// YAML under crds/ is written from this by hack/gen-crds.ts, and a unit test
// fails when it is stale.
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import { z } from 'zod';
import {
  GROUP,
  VERSION,
  WORKSPACE_KIND,
  WORKSPACE_NAME_RULES,
  WORKSPACE_PLURAL,
  WorkspaceSpec,
  WorkspaceStatus,
} from './workspace.js';
import {
  BACKUP_KIND,
  BACKUP_PLURAL,
  BackupResourceSpec,
  BackupResourceStatus,
  DESTINATION_KIND,
  DESTINATION_PLURAL,
  DestinationSpec,
  DestinationStatus,
} from './backup.js';
import { RESTORE_KIND, RESTORE_PLURAL, RestoreSpec, RestoreStatus } from './restore.js';
import { SHARED_SERVER_KIND, SHARED_SERVER_PLURAL, SharedServerSpec, SharedServerStatus } from './shared-server.js';

type Json = Record<string, unknown>;

/** Turns zod's JSON Schema into a Kubernetes structural schema. */
function structural(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(structural);
  if (node === null || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node as Json)) {
    if (key === '$schema' || key === 'id') continue;
    // Pruning already drops unknown fields; structural schemas reject `false`.
    if (key === 'additionalProperties' && value === false) continue;
    out[key] = key === 'default' || key === 'enum' ? value : structural(value);
  }
  // The apiserver validates a default as written, without applying the
  // defaults nested in it, so `default: {}` is spelled out in full.
  if (isEmptyObject(out.default) && out.properties) out.default = materialize(out);
  return out;
}

function isEmptyObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;
}

function materialize(node: Json): Json {
  const result: Json = {};
  for (const [name, prop] of Object.entries((node.properties ?? {}) as Record<string, Json>)) {
    if (prop.default === undefined) continue;
    result[name] = isEmptyObject(prop.default) && prop.properties ? materialize(prop) : prop.default;
  }
  return result;
}

function schemaOf(schema: z.ZodType): Json {
  return structural(z.toJSONSchema(schema, { io: 'input', target: 'openapi-3.0', unrepresentable: 'throw' })) as Json;
}

interface ClusterKind {
  kind: string;
  /** Cluster unless said otherwise. */
  scope?: 'Cluster' | 'Namespaced';
  plural: string;
  shortNames: string[];
  description: string;
  columns: NonNullable<V1CustomResourceDefinition['spec']['versions'][number]['additionalPrinterColumns']>;
  spec: Json;
  status: Json;
  rules?: { rule: string; message: string }[];
  /** Whether an object without spec is refused (when spec has no defaults). */
  specRequired?: boolean;
}

/** A Holdfast kind (cluster-scoped unless said) with a status subresource. */
function clusterCrd(k: ClusterKind): V1CustomResourceDefinition {
  const openAPIV3Schema = {
    type: 'object',
    description: k.description,
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec: k.spec,
      status: k.status,
    },
    ...(k.rules ? { 'x-kubernetes-validations': k.rules } : {}),
    ...(k.specRequired ? { required: ['spec'] } : {}),
  };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${k.plural}.${GROUP}`, labels: { 'app.kubernetes.io/part-of': 'holdfast' } },
    spec: {
      group: GROUP,
      scope: k.scope ?? 'Cluster',
      names: {
        kind: k.kind,
        listKind: `${k.kind}List`,
        plural: k.plural,
        singular: k.kind.toLowerCase(),
        shortNames: k.shortNames,
        categories: ['holdfast'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            ...k.columns,
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: { openAPIV3Schema: openAPIV3Schema },
        },
      ],
    },
  };
}

export function workspaceCrd(): V1CustomResourceDefinition {
  return clusterCrd({
    kind: WORKSPACE_KIND,
    plural: WORKSPACE_PLURAL,
    shortNames: ['ws'],
    description: 'A tenant of Holdfast: its namespace, database, encrypted volume, certificates and backups.',
    columns: [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Mode', type: 'string', jsonPath: '.spec.database.mode' },
      { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
      { name: 'Last Backup', type: 'date', jsonPath: '.status.lastBackupTime' },
      { name: 'Last Verified', type: 'date', jsonPath: '.status.lastVerifiedTime' },
      { name: 'Last Export', type: 'date', priority: 1, jsonPath: '.status.lastExportTime' },
      { name: 'Reason', type: 'string', priority: 1, jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
      { name: 'Namespace', type: 'string', priority: 1, jsonPath: '.status.namespace' },
    ],
    spec: { ...schemaOf(WorkspaceSpec), default: {} },
    status: schemaOf(WorkspaceStatus),
    rules: WORKSPACE_NAME_RULES,
  });
}

export function sharedServerCrd(): V1CustomResourceDefinition {
  return clusterCrd({
    kind: SHARED_SERVER_KIND,
    plural: SHARED_SERVER_PLURAL,
    shortNames: ['sds'],
    description: 'A PostgreSQL server shared by Shared-mode workspaces, each with its own database and role.',
    columns: [
      { name: 'Host', type: 'string', jsonPath: '.spec.host' },
      { name: 'Port', type: 'integer', jsonPath: '.spec.port' },
    ],
    spec: { ...schemaOf(SharedServerSpec), required: ['host', 'caSecretRef', 'adminSecretRef'] },
    status: schemaOf(SharedServerStatus),
    specRequired: true,
  });
}

export function backupDestinationCrd(): V1CustomResourceDefinition {
  return clusterCrd({
    kind: DESTINATION_KIND,
    plural: DESTINATION_PLURAL,
    shortNames: ['bdest'],
    description: 'Where backup copies go: an S3-compatible store, or a volume in each workspace namespace.',
    columns: [
      { name: 'Endpoint', type: 'string', jsonPath: '.spec.s3.endpoint' },
      { name: 'Bucket', type: 'string', jsonPath: '.spec.s3.bucket' },
      { name: 'Volume', type: 'string', jsonPath: '.spec.volume.size' },
    ],
    spec: schemaOf(DestinationSpec),
    status: schemaOf(DestinationStatus),
    specRequired: true,
  });
}

export function backupCrd(): V1CustomResourceDefinition {
  return clusterCrd({
    kind: BACKUP_KIND,
    plural: BACKUP_PLURAL,
    scope: 'Namespaced',
    shortNames: ['bk'],
    description: 'One backup of a workspace: its artifact, copies, size, checksum and row counts.',
    columns: [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Reason', type: 'string', jsonPath: '.spec.reason' },
      { name: 'Size', type: 'string', jsonPath: '.status.sizeText' },
      { name: 'Rows', type: 'integer', jsonPath: '.status.rows' },
      { name: 'Copies', type: 'string', jsonPath: '.status.copiesText' },
      { name: 'Completed', type: 'date', jsonPath: '.status.completedAt' },
      { name: 'Verified', type: 'date', jsonPath: '.status.verifiedAt' },
      { name: 'SHA256', type: 'string', priority: 1, jsonPath: '.status.sha256' },
      { name: 'Message', type: 'string', priority: 1, jsonPath: '.status.message' },
    ],
    spec: { ...schemaOf(BackupResourceSpec), required: ['workspace'] },
    status: schemaOf(BackupResourceStatus),
    specRequired: true,
  });
}

export function restoreCrd(): V1CustomResourceDefinition {
  return clusterCrd({
    kind: RESTORE_KIND,
    plural: RESTORE_PLURAL,
    scope: 'Namespaced',
    shortNames: ['rst'],
    description:
      "A restore of a workspace's database to one of its backups, in place after a safety backup of what it replaces, or beside it: into a new database, or (CloudNativePG) a new Cluster recovered to a point in time.",
    columns: [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Backup', type: 'string', jsonPath: '.status.backup' },
      { name: 'Progress', type: 'string', jsonPath: '.status.progress' },
      { name: 'Safety Backup', type: 'string', jsonPath: '.status.safetyBackup' },
      { name: 'Into', type: 'string', priority: 1, jsonPath: '.spec.newDatabase' },
      { name: 'Cluster', type: 'string', priority: 1, jsonPath: '.status.cluster' },
      { name: 'Duration', type: 'number', jsonPath: '.status.durationSeconds' },
      { name: 'Message', type: 'string', priority: 1, jsonPath: '.status.message' },
    ],
    spec: { ...schemaOf(RestoreSpec), required: ['workspace'] },
    status: schemaOf(RestoreStatus),
    specRequired: true,
  });
}

export function allCrds(): V1CustomResourceDefinition[] {
  return [workspaceCrd(), sharedServerCrd(), backupDestinationCrd(), backupCrd(), restoreCrd()];
}
