// Builds the Workspace CustomResourceDefinition from the zod schema. The
// YAML under crds/ is written from this by hack/gen-crds.ts, and a unit test
// fails when it is stale.
import type { V1CustomResourceDefinition, V1JSONSchemaProps } from '@kubernetes/client-node';
import { z } from 'zod';
import {
  GROUP, VERSION, WORKSPACE_KIND, WORKSPACE_NAME_RULES, WORKSPACE_PLURAL, WorkspaceSpec, WorkspaceStatus,
} from './workspace.js';
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

export function workspaceCrd(): V1CustomResourceDefinition {
  const openAPIV3Schema = {
    type: 'object',
    description: 'A tenant of Holdfast: its namespace, database, encrypted volume, certificates and backups.',
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec: { ...schemaOf(WorkspaceSpec), default: {} },
      status: schemaOf(WorkspaceStatus),
    },
    'x-kubernetes-validations': WORKSPACE_NAME_RULES,
  };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${WORKSPACE_PLURAL}.${GROUP}`, labels: { 'app.kubernetes.io/part-of': 'holdfast' } },
    spec: {
      group: GROUP,
      scope: 'Cluster',
      names: {
        kind: WORKSPACE_KIND,
        listKind: `${WORKSPACE_KIND}List`,
        plural: WORKSPACE_PLURAL,
        singular: 'workspace',
        shortNames: ['ws'],
        categories: ['holdfast'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
            { name: 'Mode', type: 'string', jsonPath: '.spec.database.mode' },
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: 'Last Backup', type: 'date', jsonPath: '.status.lastBackupTime' },
            { name: 'Last Verified', type: 'date', jsonPath: '.status.lastVerifiedTime' },
            { name: 'Reason', type: 'string', priority: 1, jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
            { name: 'Namespace', type: 'string', priority: 1, jsonPath: '.status.namespace' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: { openAPIV3Schema: openAPIV3Schema as V1JSONSchemaProps },
        },
      ],
    },
  };
}

export function sharedServerCrd(): V1CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${SHARED_SERVER_PLURAL}.${GROUP}`, labels: { 'app.kubernetes.io/part-of': 'holdfast' } },
    spec: {
      group: GROUP,
      scope: 'Cluster',
      names: { kind: SHARED_SERVER_KIND, listKind: `${SHARED_SERVER_KIND}List`, plural: SHARED_SERVER_PLURAL, singular: 'shareddatabaseserver', shortNames: ['sds'], categories: ['holdfast'] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Host', type: 'string', jsonPath: '.spec.host' },
            { name: 'Port', type: 'integer', jsonPath: '.spec.port' },
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: 'Version', type: 'string', jsonPath: '.status.version' },
            { name: 'Workspaces', type: 'integer', jsonPath: '.status.workspaces' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'A PostgreSQL server shared by Shared-mode workspaces, each with its own database and role.',
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: { ...schemaOf(SharedServerSpec), required: ['host', 'caSecretRef', 'adminSecretRef'] },
                status: schemaOf(SharedServerStatus),
              },
              required: ['spec'],
            },
          },
        },
      ],
    },
  };
}

export function allCrds(): V1CustomResourceDefinition[] {
  return [workspaceCrd(), sharedServerCrd()];
}
