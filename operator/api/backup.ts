// Backups as resources. BackupDestination (cluster-scoped): where copies go,
// declared once by the platform admin. Backup (in a workspace's namespace):
// one backup, written by the job that takes it; `kubectl get backups` is the
// backup log an auditor reads.
import { z } from 'zod';
import { celRegex, withRules } from './rules.js';
import { StatusConditions } from './shared-server.js';
import { GROUP, VERSION } from './workspace.js';

export const DESTINATION_KIND = 'BackupDestination';
export const DESTINATION_PLURAL = 'backupdestinations';
export const BACKUP_KIND = 'Backup';
export const BACKUP_PLURAL = 'backups';
export const BACKUP_API = `${GROUP}/${VERSION}`;
/** Set by `holdfast backup` on a Backup it creates for itself (its Job's name): the operator starts no Job for it. */
export const TAKEN_BY_ANNOTATION = 'holdfast.io/taken-by';

const secretRef = (what: string) =>
  z.object({ name: z.string().min(1).max(253), namespace: z.string().min(1).max(63) }).describe(what);

const HTTP_URL = /^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/;
const PREFIX = /^([A-Za-z0-9!_.*'()-]+\/)*$/;

export const S3DestinationSpec = z.object({
  endpoint: withRules(z.string().max(2048), [
    {
      cel: `self.matches(${celRegex(HTTP_URL)})`,
      message:
        'spec.s3.endpoint must be a URL such as "https://s3.eu-central-1.amazonaws.com" or "http://minio.backup:9000"',
      test: (v) => HTTP_URL.test(v),
    },
  ]).describe('The S3 API endpoint.'),
  bucket: z.string().min(3).max(63).describe('The bucket; it must exist.'),
  prefix: withRules(z.string().max(512), [
    {
      cel: `self.matches(${celRegex(PREFIX)})`,
      message: 'spec.s3.prefix must be empty or end with "/", such as "holdfast/"',
      test: (v) => PREFIX.test(v),
    },
  ])
    .default('')
    .describe('Where in the bucket workspaces have their folders.'),
  region: z.string().min(1).max(64).default('us-east-1'),
  forcePathStyle: z
    .boolean()
    .default(true)
    .describe('bucket in the path (most S3-compatible servers) rather than the host.'),
  credentialsSecretRef: secretRef('Secret with keys accessKeyId and secretAccessKey.'),
  caSecretRef: secretRef('Secret with key ca.crt: the CA that signed the endpoint certificate.').optional(),
});

export const VolumeDestinationSpec = z.object({
  storageClassName: z
    .string()
    .max(253)
    .optional()
    .describe('Class of the backup volume (default: the cluster default).'),
  size: z
    .string()
    .max(32)
    .regex(/^[0-9]+(Mi|Gi|Ti)$/, 'spec.volume.size must be a size such as "50Gi"')
    .default('50Gi')
    .describe('Size of each workspace backup volume.'),
});

export const DestinationSpec = withRules(
  z.object({
    s3: S3DestinationSpec.optional().describe('An S3-compatible object store.'),
    volume: VolumeDestinationSpec.optional().describe('A volume of its own in each workspace namespace.'),
  }),
  [
    {
      cel: 'has(self.s3) != has(self.volume)',
      message: 'a BackupDestination needs exactly one of spec.s3 or spec.volume',
      test: (d) => (d.s3 === undefined) !== (d.volume === undefined),
    },
  ],
);

export const DestinationStatus = z.object({
  conditions: StatusConditions.optional(),
});

export const BACKUP_REASONS = ['Scheduled', 'OnDemand', 'BeforeUpgrade', 'BeforeDeletion', 'BeforeRestore'] as const;
export const BackupReason = z.enum(BACKUP_REASONS);
export const BACKUP_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed'] as const;

export const BackupResourceSpec = z.object({
  workspace: z.string().min(1).max(60).describe('The Workspace backed up (in whose namespace this is).'),
  reason: BackupReason.default('OnDemand').describe('Why it was taken.'),
});

export const CopyStatus = z.object({
  destination: z.string(),
  phase: z.enum(['Uploading', 'Stored', 'Failed', 'Deleted']),
  /** The artifact's key (S3) or path (volume) at the destination. */
  location: z.string().optional(),
  message: z.string().optional(),
});

/** What the last restore drill of a backup found. */
export const Verification = z.object({
  passed: z.boolean(),
  /** When the drill ended. */
  at: z.string(),
  /** The destination whose copy was restored (drills rotate through them). */
  destination: z.string().optional(),
  tables: z.int().optional(),
  rows: z.int().optional(),
  /** Each table's content was compared with the digest in the manifest, not only its row count. */
  contentChecked: z.boolean().optional(),
  durationSeconds: z.number().optional(),
  /** Why it failed, or what it proved. */
  message: z.string().optional(),
  /** The drill's Job, whose pod log says more. */
  job: z.string().optional(),
});

export const BackupResourceStatus = z.object({
  phase: z.enum(BACKUP_PHASES).optional(),
  message: z.string().optional(),
  startedAt: z.string().optional(),
  completedAt: z.string().optional(),
  /** The artifact name without destination: `<workspace>/<yyyy>/<mm>/<backup>.dump.age`. */
  artifact: z.string().optional(),
  size: z.int().optional(),
  /** Human size for kubectl, e.g. "1.2 GiB". */
  sizeText: z.string().optional(),
  sha256: z.string().optional(),
  tables: z.int().optional(),
  rows: z.int().optional(),
  serverVersion: z.string().optional(),
  /** "2/2": copies stored out of destinations. */
  copiesText: z.string().optional(),
  copies: z
    .array(CopyStatus)
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['destination'] })
    .optional(),
  /** The Job that takes it. */
  job: z.string().optional(),
  /** When a restore drill last proved this backup. */
  verifiedAt: z.string().optional(),
  verification: Verification.optional(),
});

export type DestinationSpec = z.output<typeof DestinationSpec>;
export type S3DestinationSpec = z.output<typeof S3DestinationSpec>;
export type BackupResourceSpec = z.output<typeof BackupResourceSpec>;
export type BackupResourceStatus = z.output<typeof BackupResourceStatus>;
export type CopyStatus = z.output<typeof CopyStatus>;
export type Verification = z.output<typeof Verification>;
export type BackupReason = z.output<typeof BackupReason>;
