// Restore (in a workspace's namespace): bring a workspace's database back to
// one of its backups. Written by whoever asks (kubectl, `kubectl holdfast
// restore`, the console); the operator takes a safety backup first, then
// starts the Job that restores, which reports its progress here.
import { z } from 'zod';
import { withRules } from './rules.js';
import { GROUP, VERSION } from './workspace.js';

export const RESTORE_KIND = 'Restore';
export const RESTORE_PLURAL = 'restores';
export const RESTORE_API = `${GROUP}/${VERSION}`;

export const RestoreSpec = withRules(
  z.object({
    workspace: z.string().min(1).max(60).describe('The Workspace restored (in whose namespace this is).'),
    backup: z.string().min(1).max(253).optional().describe('The Backup to restore, by name.'),
    before: z
      .string()
      .max(64)
      .meta({ format: 'date-time' })
      .optional()
      .describe('Restore the newest Succeeded backup completed at or before this time (RFC 3339).'),
    pointInTime: z
      .string()
      .max(64)
      .meta({ format: 'date-time' })
      .optional()
      .describe(
        "Recover the workspace's database as it was at this time (RFC 3339) from its WAL archive, into a new CloudNativePG Cluster beside the workspace's (spec.backup.pointInTime of a cloudnative-pg Workspace).",
      ),
    newDatabase: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/)
      .optional()
      .describe(
        "Restore into a new, empty database of this name on the workspace's server, beside its database, which stays as it is (no safety backup is needed). Without it, the restore replaces the workspace's database.",
      ),
  }),
  [
    {
      cel: "!has(self.newDatabase) || !(self.newDatabase in ['app', 'postgres', 'template0', 'template1'])",
      message:
        'spec.newDatabase names a database every server or workspace already has: choose a new name, such as restored_20261130',
      test: (s) =>
        s.newDatabase === undefined || !['app', 'postgres', 'template0', 'template1'].includes(s.newDatabase),
      fieldPath: '.newDatabase',
    },
    {
      cel: '[has(self.backup), has(self.before), has(self.pointInTime)].filter(x, x).size() == 1',
      message:
        'a Restore needs exactly one of spec.backup (a Backup name), spec.before (a time such as 2026-11-30T09:00:00Z) or spec.pointInTime (a time, with a WAL archive)',
      test: (s) => [s.backup, s.before, s.pointInTime].filter((x) => x !== undefined).length === 1,
    },
    {
      cel: '!has(self.pointInTime) || !has(self.newDatabase)',
      message:
        "spec.pointInTime always recovers into a new CloudNativePG Cluster beside the workspace's: remove spec.newDatabase",
      fieldPath: '.newDatabase',
      test: (s) => s.pointInTime === undefined || s.newDatabase === undefined,
    },
  ],
);

export const RESTORE_PHASES = ['Pending', 'BackingUp', 'Restoring', 'Succeeded', 'Failed'] as const;

export const RestoreStatus = z.object({
  /** Pending; BackingUp (the safety backup); Restoring (the Job); Succeeded or Failed. */
  phase: z.enum(RESTORE_PHASES).optional(),
  message: z.string().optional(),
  /** The Backup restored (spec.before resolved). */
  backup: z.string().optional(),
  /** The database restored into: spec.newDatabase, or the workspace's own. */
  database: z.string().optional(),
  /** The recovery Cluster of a Restore to a point in time; its primary is `<cluster>-rw`. */
  cluster: z.string().optional(),
  /** The Backup taken just before, of the data the restore replaced. */
  safetyBackup: z.string().optional(),
  /** The destination whose copy was read. */
  destination: z.string().optional(),
  /** The Job that restores; its pod's log says more. */
  job: z.string().optional(),
  startedAt: z.string().optional(),
  completedAt: z.string().optional(),
  durationSeconds: z.number().optional(),
  /** For kubectl: "37% 2/5 tables". */
  progress: z.string().optional(),
  bytesRead: z.int().optional(),
  totalBytes: z.int().optional(),
  tablesRestored: z.int().optional(),
  totalTables: z.int().optional(),
  /** Rows in the database after the restore, as counted. */
  rows: z.int().optional(),
});

export type RestoreSpec = z.output<typeof RestoreSpec>;
export type RestoreStatus = z.output<typeof RestoreStatus>;
export type RestorePhase = (typeof RESTORE_PHASES)[number];
