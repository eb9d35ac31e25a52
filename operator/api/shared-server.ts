// SharedDatabaseServer (cluster-scoped): a PostgreSQL server declared once by
// the platform admin, on which Shared workspaces get a database and a role.
import { z } from 'zod';
import { GROUP, VERSION } from './workspace.js';

export const SHARED_SERVER_KIND = 'SharedDatabaseServer';
export const SHARED_SERVER_PLURAL = 'shareddatabaseservers';

const secretKeyRef = (what: string, defaultKey: string) =>
  z
    .object({
      name: z.string().min(1).max(253),
      namespace: z.string().min(1).max(63),
      key: z.string().max(253).default(defaultKey),
    })
    .describe(what);

export const SharedServerSpec = z.object({
  host: z.string().min(1).max(253).describe('Host name the server answers to (and its certificate names).'),
  port: z.int().min(1).max(65535).default(5432),
  database: z.string().min(1).max(63).default('postgres').describe('Database the operator connects to as admin.'),
  caSecretRef: secretKeyRef('CA bundle that signed the server certificate.', 'ca.crt'),
  adminSecretRef: z
    .object({ name: z.string().min(1).max(253), namespace: z.string().min(1).max(63) })
    .describe('Secret with keys username and password of a role with CREATEROLE and CREATEDB.'),
});

/** The conditions of a cluster-scoped Holdfast resource's status, one per type. */
export const StatusConditions = z
  .array(
    z.object({
      type: z.string(),
      status: z.enum(['True', 'False', 'Unknown']),
      reason: z.string(),
      message: z.string(),
      lastTransitionTime: z.string(),
    }),
  )
  .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });

export const SharedServerStatus = z.object({
  conditions: StatusConditions.optional(),
  version: z.string().optional(),
  workspaces: z.int().optional(),
});

export type SharedServerSpec = z.output<typeof SharedServerSpec>;
export const SHARED_SERVER_API = `${GROUP}/${VERSION}`;
