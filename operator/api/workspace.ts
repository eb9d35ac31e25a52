// The Workspace API (holdfast.io/v1alpha1): one zod schema from which the
// CRD (hack/gen-crds.ts), the operator's and console's validation and the
// TypeScript types all come.
import { z } from 'zod';
import type { ObjectMeta } from '../../kube/rest.js';
import { celRegex, withRules } from './rules.js';

export const GROUP = 'holdfast.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const WORKSPACE_KIND = 'Workspace';
export const WORKSPACE_PLURAL = 'workspaces';

/** The namespace prefix; names are limited so that `ws-<name>` fits in 63. */
export const NAMESPACE_PREFIX = 'ws-';
export const MAX_NAME_LENGTH = 63 - NAMESPACE_PREFIX.length;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_NAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// Kubernetes quantities as users write them for storage and memory.
const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$/;
// Go durations as Kubernetes APIs accept them (CEL's duration() parses these).
const DURATION = /^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$/;
// age X25519 recipients (bech32) and SSH public keys, as the age CLI takes them.
const AGE_RECIPIENT = /^(age1[02-9ac-hj-np-z]{58}|ssh-ed25519 [A-Za-z0-9+/=]+( .*)?|ssh-rsa [A-Za-z0-9+/=]+( .*)?)$/;

export { CRON } from './cron.js';
import { CRON } from './cron.js';

const cron = (field: string, example: string) =>
  withRules(z.string().max(100), [
    {
      cel: `self.matches(${celRegex(CRON)})`,
      message: `${field} must be a cron expression of 5 fields (minute hour day-of-month month day-of-week) such as "${example}", or @hourly/@daily/@weekly/@monthly/@yearly`,
      test: (v) => CRON.test(v),
    },
  ]);

const quantity = (field: string, example: string) =>
  withRules(z.string().max(32), [
    {
      cel: `self.matches(${celRegex(QUANTITY)})`,
      message: `${field} must be a quantity such as "${example}" (a number with an optional unit Ki, Mi, Gi, Ti)`,
      test: (v) => QUANTITY.test(v),
    },
  ]);

const duration = (field: string, example: string) =>
  withRules(z.string().max(32), [
    {
      cel: `self.matches(${celRegex(DURATION)})`,
      message: `${field} must be a duration such as "${example}" (units h, m, s)`,
      test: (v) => DURATION.test(v),
    },
  ]);

const immutable = <S extends z.ZodType>(schema: S, message: string) =>
  withRules(schema, [{ cel: 'self == oldSelf', message }]);

export const DatabaseSpec = withRules(
  z.object({
    mode: immutable(
      z.enum(['Dedicated', 'Shared']).default('Dedicated'),
      'spec.database.mode cannot change after creation; create a new Workspace and restore a backup into it',
    ).describe('Dedicated: a database server of its own. Shared: a database and role on a SharedDatabaseServer.'),
    provider: z
      .enum(['builtin', 'cloudnative-pg'])
      .default('builtin')
      .describe('builtin: a single-instance StatefulSet. cloudnative-pg: a CloudNativePG Cluster with replicas.'),
    version: immutable(
      z.enum(['15', '16', '17']).default('17'),
      'spec.database.version cannot change yet: major-version upgrades are not supported; keep the current version',
    ).describe('PostgreSQL major version.'),
    storage: quantity('spec.database.storage', '10Gi').default('10Gi').describe('Size of the database volume.'),
    serverRef: immutable(
      z.string().max(253),
      'spec.database.serverRef cannot change after creation: the database would stay behind on the old server; create a new Workspace on the other server and restore a backup into it',
    )
      .optional()
      .describe('Name of the SharedDatabaseServer (mode Shared only).'),
    connectionLimit: z.int().min(-1).max(10000).optional().describe('CONNECTION LIMIT of the role (mode Shared only).'),
    instances: z.int().min(1).max(9).optional().describe('Number of instances (provider cloudnative-pg only).'),
    resources: z
      .object({
        cpu: quantity('spec.database.resources.cpu', '500m').optional(),
        memory: quantity('spec.database.resources.memory', '1Gi').optional(),
      })
      .optional()
      .describe('Requests (and limits) of the database server.'),
  }),
  [
    {
      cel: "self.mode != 'Shared' || has(self.serverRef)",
      message: 'spec.database.serverRef is required when mode is Shared: name the SharedDatabaseServer to use',
      test: (d) => d.mode !== 'Shared' || d.serverRef !== undefined,
    },
    {
      cel: "self.mode != 'Dedicated' || !has(self.serverRef)",
      message: 'spec.database.serverRef is only for mode Shared: remove it, or set mode: Shared',
      test: (d) => d.mode !== 'Dedicated' || d.serverRef === undefined,
    },
    {
      cel: "self.provider != 'cloudnative-pg' || self.mode == 'Dedicated'",
      message:
        'spec.database.provider cloudnative-pg needs mode Dedicated: a CloudNativePG cluster is a server of its own',
      test: (d) => d.provider !== 'cloudnative-pg' || d.mode === 'Dedicated',
    },
    {
      cel: "!has(self.connectionLimit) || self.mode == 'Shared'",
      message: 'spec.database.connectionLimit applies to mode Shared only: remove it for a Dedicated database',
      test: (d) => d.connectionLimit === undefined || d.mode === 'Shared',
    },
    {
      cel: "!has(self.instances) || self.provider == 'cloudnative-pg'",
      message:
        'spec.database.instances applies to provider cloudnative-pg only: remove it, or set provider: cloudnative-pg',
      test: (d) => d.instances === undefined || d.provider === 'cloudnative-pg',
    },
  ],
);

export const VolumeSpec = withRules(
  z.object({
    size: withRules(quantity('spec.volume.size', '10Gi'), [
      {
        cel: 'quantity(self).compareTo(quantity(oldSelf)) >= 0',
        message: 'spec.volume.size cannot shrink: volumes only grow; keep it at least the current size',
      },
    ])
      .default('10Gi')
      .describe('Size of the workspace data volume; it can grow, never shrink.'),
    storageClassName: immutable(
      z.string().max(253),
      'spec.volume.storageClassName cannot change once set: the volume would have to be recreated',
    )
      .optional()
      .describe('StorageClass of the data volume; the cluster default class when empty.'),
    encryption: z
      .enum(['Required', 'Preferred'])
      .default('Required')
      .describe(
        'Required: nothing is created unless the class is marked encrypted. Preferred: proceed with a warning condition.',
      ),
  }),
  [
    {
      // Removing the field would move the volume to the default class.
      cel: '!has(oldSelf.storageClassName) || has(self.storageClassName)',
      message:
        'spec.volume.storageClassName cannot be removed once set: the volume would have to be recreated; keep its current value',
    },
  ],
);

export const TlsSpec = withRules(
  z.object({
    issuer: z.enum(['Internal', 'CertManager']).default('Internal'),
    issuerRef: z
      .object({
        name: z.string().min(1).max(253),
        kind: z.enum(['Issuer', 'ClusterIssuer']).default('ClusterIssuer'),
        group: z.string().max(253).default('cert-manager.io'),
      })
      .optional()
      .describe('The cert-manager issuer (issuer CertManager only).'),
    dnsNames: z
      .array(
        withRules(z.string().max(253), [
          {
            cel: `self.matches(${celRegex(DNS_NAME)})`,
            message:
              'spec.tls.dnsNames entries must be DNS names such as "app.example.com" (lower case, optional leading "*.")',
            test: (v) => DNS_NAME.test(v),
          },
        ]),
      )
      .max(20)
      .optional()
      .describe('Extra names for the workspace certificate.'),
    duration: duration('spec.tls.duration', '2160h')
      .default('2160h')
      .describe('Certificate lifetime (default 90 days).'),
    renewBefore: duration('spec.tls.renewBefore', '720h')
      .optional()
      .describe('Renew this long before expiry; default a third of the lifetime.'),
  }),
  [
    {
      cel: "self.issuer != 'CertManager' || has(self.issuerRef)",
      message: 'spec.tls.issuerRef is required when issuer is CertManager: name the Issuer or ClusterIssuer',
      test: (t) => t.issuer !== 'CertManager' || t.issuerRef !== undefined,
    },
    {
      cel: "self.issuer != 'Internal' || !has(self.issuerRef)",
      message: 'spec.tls.issuerRef is only for issuer CertManager: remove it, or set issuer: CertManager',
      test: (t) => t.issuer !== 'Internal' || t.issuerRef === undefined,
    },
    {
      cel: '!has(self.renewBefore) || duration(self.renewBefore) < duration(self.duration)',
      message: 'spec.tls.renewBefore must be shorter than spec.tls.duration, or the certificate would renew forever',
    },
  ],
);

const tier = (max: number, fallback: number, what: string) =>
  z.int().min(0).max(max).default(fallback).describe(`How many ${what} backups to keep.`);

export const RetentionSpec = withRules(
  z.object({
    hourly: tier(168, 0, 'hourly'),
    daily: tier(366, 30, 'daily'),
    weekly: tier(260, 26, 'weekly'),
    monthly: tier(120, 12, 'monthly'),
    yearly: tier(100, 0, 'yearly'),
  }),
  [
    {
      cel: 'self.hourly + self.daily + self.weekly + self.monthly + self.yearly > 0',
      message:
        'spec.backup.retention keeps no backups at all: set at least one tier (hourly, daily, weekly, monthly, yearly) above 0',
      test: (r) => r.hourly + r.daily + r.weekly + r.monthly + r.yearly > 0,
    },
  ],
);

export const BackupSpec = z.object({
  schedule: cron('spec.backup.schedule', '0 4 * * *').default('0 4 * * *').describe('When to back up (cron, UTC).'),
  retention: RetentionSpec.prefault({}).describe('Grandfather-father-son tiers.'),
  destinations: z
    .array(z.object({ name: z.string().min(1).max(253).describe('A BackupDestination name.') }))
    .max(8)
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })
    // The apiserver refuses duplicate keys of a map-type list by itself.
    .refine((list) => new Set(list.map((d) => d.name)).size === list.length, {
      message: 'Duplicate value: each destination may be listed once',
    })
    .optional()
    .describe('Where copies go; each artifact goes to every destination.'),
  recipients: z
    .array(
      withRules(z.string().max(16384), [
        {
          cel: `self.matches(${celRegex(AGE_RECIPIENT)})`,
          message:
            'spec.backup.recipients entries must be age recipients ("age1…") or SSH public keys ("ssh-ed25519 …")',
          test: (v) => AGE_RECIPIENT.test(v),
        },
      ]),
    )
    .max(16)
    .optional()
    .describe('Extra age recipients (escrow keys) every backup is encrypted to.'),
  verify: z
    .object({ schedule: cron('spec.backup.verify.schedule', '0 5 * * 0').default('0 5 * * 0') })
    .prefault({})
    .describe('Restore drill schedule.'),
  export: z
    .object({
      schedule: cron('spec.backup.export.schedule', '30 4 * * *').default('30 4 * * *'),
      retentionDays: z.int().min(1).max(3650).default(365),
    })
    .prefault({})
    .describe('Daily portable export (SpreadsheetML + CSV).'),
  pointInTime: z
    .object({
      destination: z
        .string()
        .min(1)
        .max(253)
        .describe('The S3 BackupDestination (one of spec.backup.destinations) WAL and base backups go to.'),
    })
    .optional()
    .describe(
      'Continuous WAL archiving, for Restores to any point in time (spec.pointInTime of a Restore). Provider cloudnative-pg only.',
    ),
});

export const QuotaSpec = z.object({
  cpu: quantity('spec.quota.cpu', '4').default('4').describe('requests.cpu of the namespace.'),
  memory: quantity('spec.quota.memory', '8Gi').default('8Gi').describe('requests.memory of the namespace.'),
  storage: quantity('spec.quota.storage', '200Gi').default('200Gi').describe('requests.storage of the namespace.'),
  pods: z.int().min(1).max(1000).default(20),
});

export const WorkspaceSpec = withRules(
  z.object({
    displayName: z.string().max(128).optional().describe('Name shown in the console.'),
    tenant: withRules(z.string().max(63), [
      {
        cel: `self.matches(${celRegex(DNS_LABEL)})`,
        message: 'spec.tenant must be a DNS label such as "acme" (lower case letters, digits and "-")',
        test: (v) => DNS_LABEL.test(v),
      },
    ])
      .optional()
      .describe('The console tenant this workspace belongs to.'),
    database: DatabaseSpec.prefault({}),
    volume: VolumeSpec.prefault({}),
    tls: TlsSpec.prefault({}),
    backup: BackupSpec.prefault({}),
    quota: QuotaSpec.prefault({}),
    deletionPolicy: z
      .enum(['Retain', 'Snapshot', 'Delete'])
      .default('Snapshot')
      .describe('What deleting the Workspace does to its data.'),
    retention: z
      .object({ afterDeletion: duration('spec.retention.afterDeletion', '8760h').default('8760h') })
      .prefault({})
      .describe('How long the final backup is kept after deletion.'),
    suspend: z.boolean().default(false).describe('Stop all changes (and backups) without deleting anything.'),
  }),
  [
    {
      cel: "!has(self.backup) || !has(self.backup.pointInTime) || (has(self.database) && self.database.mode == 'Dedicated' && self.database.provider == 'cloudnative-pg')",
      message:
        'spec.backup.pointInTime needs spec.database.provider: cloudnative-pg (a Dedicated database that CloudNativePG runs): remove spec.backup.pointInTime, or use that provider',
      fieldPath: '.backup.pointInTime',
      test: (s) =>
        !s.backup.pointInTime || (s.database.mode === 'Dedicated' && s.database.provider === 'cloudnative-pg'),
    },
  ],
);

export const Condition = z.object({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string(),
  message: z.string(),
  lastTransitionTime: z.string(),
  observedGeneration: z.int().optional(),
});

export const WorkspaceStatus = z.object({
  observedGeneration: z.int().optional(),
  phase: z.enum(['Pending', 'Provisioning', 'Ready', 'Degraded', 'Suspended', 'Deleting']).optional(),
  conditions: z
    .array(Condition)
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
    .optional(),
  namespace: z.string().optional(),
  volume: z
    .object({
      claimName: z.string(),
      storageClassName: z.string().optional(),
      encrypted: z.boolean(),
      phase: z.string().optional(),
    })
    .optional(),
  certificate: z
    .object({
      secretName: z.string(),
      serial: z.string().optional(),
      notAfter: z.string().optional(),
      renewalTime: z.string().optional(),
      issuer: z.string().optional(),
      dnsNames: z.array(z.string()).optional(),
    })
    .optional(),
  database: z
    .object({
      mode: z.string(),
      provider: z.string(),
      server: z.string().optional(),
      host: z.string().optional(),
      port: z.int().optional(),
      name: z.string().optional(),
      user: z.string().optional(),
      secretName: z.string().optional(),
      version: z.string().optional(),
    })
    .optional(),
  backup: z
    .object({
      lastFailureTime: z.string().optional().describe('When the newest failed backup ended.'),
      lastFailure: z.string().optional().describe('Which backup failed last, and why.'),
      nextScheduleTime: z.string().optional().describe('When the CronJob runs next.'),
    })
    .optional()
    .describe('Backups beyond lastBackupTime and recoveryPoint: the last failure and the next run.'),
  lastBackupTime: z.string().optional(),
  lastVerifiedTime: z.string().optional(),
  lastExportTime: z.string().optional(),
  recoveryPoint: z.string().optional(),
});

export const WORKSPACE_NAME_RULES = [
  {
    rule: `self.metadata.name.size() <= ${MAX_NAME_LENGTH}`,
    message: `metadata.name must be at most ${MAX_NAME_LENGTH} characters, so that its namespace ${NAMESPACE_PREFIX}<name> fits in 63`,
  },
  {
    rule: `self.metadata.name.matches(${celRegex(DNS_LABEL)})`,
    message:
      'metadata.name must be a DNS label (lower case letters, digits and "-", no dots): it names the namespace ws-<name>',
  },
];

export type WorkspaceSpec = z.output<typeof WorkspaceSpec>;
export type WorkspaceSpecInput = z.input<typeof WorkspaceSpec>;
export type WorkspaceStatus = z.output<typeof WorkspaceStatus>;
export type Condition = z.output<typeof Condition>;

export interface Workspace {
  apiVersion: typeof API_VERSION;
  kind: typeof WORKSPACE_KIND;
  metadata: ObjectMeta;
  spec: WorkspaceSpec;
  status?: WorkspaceStatus;
}

/** Validates a name the way the CRD's root rules do. */
export function checkWorkspaceName(name: string): string | undefined {
  if (name.length > MAX_NAME_LENGTH) return WORKSPACE_NAME_RULES[0]!.message;
  if (!DNS_LABEL.test(name)) return WORKSPACE_NAME_RULES[1]!.message;
  return undefined;
}

export function namespaceOf(workspaceName: string): string {
  return `${NAMESPACE_PREFIX}${workspaceName}`;
}
