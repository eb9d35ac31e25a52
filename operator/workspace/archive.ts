// deletionPolicy Snapshot: a final backup, then the workspace is deleted but
// for its archive, which is erased after spec.retention.afterDeletion.
//   1. the final Backup (`<workspace>-final`, reason BeforeDeletion) is taken
//      by a Job like any asked-for backup; nothing is deleted until it has
//      Succeeded, and a failed one stops the deletion and says what to do;
//   2. everything the Workspace made is deleted (the database and its volume
//      first of all) except the archive: the namespace with its Backups (the
//      backup log an auditor reads), the workspace's age key (Secret
//      backup-key: without it only the escrow keys could read the backups)
//      and its backup volumes. These are released from the Workspace and the
//      namespace is marked with the time it is to be erased;
//   3. when that time comes, every stored copy at an object store is deleted,
//      then the namespace (and with it the backup volumes), with an Event
//      that is the audit record of the erasure.
import { namespaceOf, type Workspace, type WorkspaceStatus } from '../api/workspace.js';
import { S3Destination } from '../backup/destinations.js';
import { manifestKey } from '../backup/artifact.js';
import { BACKUP_CRONJOB, BACKUP_KEY_SECRET } from '../backup/schedule.js';
import { isNotFound, objectPath, type KubeObject, type Rest } from '../../kube/rest.js';
import type { EventRecorder } from '../../kube/events.js';
import type { Outcome } from '../runtime/queue.js';
import type { S3DestinationSpec } from '../api/backup.js';
import { readS3Credentials } from './backup-schedule.js';
import { parseDuration } from './certificate/internal.js';
import { askForBackup, handleBackupRequests } from './backup-requests.js';
import { findCondition, type ConditionInput } from './conditions.js';
import type { BackupObject, Caches, Deps } from './deps.js';
import { orphan, ownedObjectsOf } from './orphan.js';
import { ARCHIVE_OF, ERASE_AFTER, RETAINED_FROM } from './ownership.js';

export { ARCHIVE_OF, ERASE_AFTER };
import type { Logger } from 'pino';
import { COMPONENT_LABEL } from './owner.js';

type WriteStatus = (status: WorkspaceStatus, conditions: ConditionInput[]) => Promise<string[]>;

/** The final Backup of this Workspace (its uid in the name: a re-created Workspace of the same name has its own). */
export const finalBackupName = (ws: Pick<Workspace, 'metadata'>) =>
  `${ws.metadata.name}-final-${(ws.metadata.uid ?? '').slice(0, 8)}`;

/**
 * Takes the final backup; 'continue' once it has Succeeded, an Outcome to wait
 * on otherwise, 'none' when backups cannot be taken at all.
 */
export async function takeFinalBackup(
  ws: Workspace,
  d: Deps,
  writeStatus: WriteStatus,
): Promise<'continue' | 'none' | Outcome> {
  const ns = namespaceOf(ws.metadata.name);
  const cronJob = await d.rest.find<KubeObject>(objectPath('CronJob', BACKUP_CRONJOB, ns));
  const name = finalBackupName(ws);
  let final = d.caches.backups.get(name, ns);
  if (!cronJob && !final) return 'none';
  if (!final) final = await askForBackup(d.rest, ws, name, 'BeforeDeletion');
  const backups = d.caches.backups.list().filter((b) => b.metadata.namespace === ns);
  if (final && !backups.includes(final)) backups.push(final);
  await handleBackupRequests(ws, {
    rest: d.rest,
    events: d.events,
    metrics: d.metrics,
    backups,
    job: (n) => d.caches.jobs.get(n, ns),
    cronJob,
    notScheduled: `waiting: the backup CronJob is gone, so no final backup can be taken; set spec.deletionPolicy to Retain (keep the data) or Delete (delete it without a final backup) to go on`,
    now: (d.now ?? (() => new Date()))(),
  });
  const phase = final?.status?.phase;
  const copies = final?.status?.copies ?? [];
  const everywhere = copies.length > 0 && copies.every((c) => c.phase === 'Stored');
  // It is the last copy of the data: stored at every destination, or nothing is deleted.
  if (phase === 'Succeeded' && everywhere) return 'continue';
  if (phase === 'Failed' || phase === 'Succeeded') {
    const why =
      phase === 'Failed'
        ? `failed (${final!.status!.message ?? 'no reason given'})`
        : `was stored at ${final!.status!.copiesText ?? 'some'} destinations only (${final!.status!.message ?? ''})`;
    const message = `deletionPolicy Snapshot: the final backup ${name} ${why}, so nothing is deleted. Fix the cause and delete Backup ${name} (kubectl delete backup -n ${ns} ${name}) to take it again, or set spec.deletionPolicy to Delete or Retain`;
    if (findCondition(ws.status?.conditions, 'Ready')?.reason !== 'FinalBackupFailed')
      await d.events.record(ws, 'Warning', 'FinalBackupFailed', 'Delete', message);
    await writeStatus({ ...ws.status, phase: 'Deleting' }, [
      { type: 'Ready', status: 'False', reason: 'FinalBackupFailed', message },
    ]);
    return { requeueAfterMs: 60_000 };
  }
  await writeStatus({ ...ws.status, phase: 'Deleting' }, [
    {
      type: 'Ready',
      status: 'False',
      reason: 'FinalBackup',
      message: `deletionPolicy Snapshot: taking the final backup ${name} before anything is deleted (kubectl get backup -n ${ns} ${name})`,
    },
  ]);
  // The Backup's and the Job's changes bring it back; this is a backstop.
  return { requeueAfterMs: 30_000 };
}

/** What outlives the Workspace under Snapshot until it is erased. */
function isArchive(obj: { kind: string; name: string; labels?: Record<string, string> }): boolean {
  if (obj.kind === 'Namespace') return true;
  if (obj.labels?.[COMPONENT_LABEL] !== 'backup') return false;
  return obj.kind === 'PersistentVolumeClaim' || (obj.kind === 'Secret' && obj.name === BACKUP_KEY_SECRET);
}

/** Deletes all but the archive, releases the archive, and marks when it is to be erased. */
export async function archiveWorkspace(ws: Workspace, d: Deps, now: Date): Promise<string> {
  const uid = ws.metadata.uid!;
  const ns = namespaceOf(ws.metadata.name);
  const eraseAt = new Date(now.getTime() + parseDuration(ws.spec.retention.afterDeletion));
  const owned = await ownedObjectsOf(d.rest, uid, ns);
  for (const obj of owned.filter((o) => !isArchive(o))) {
    await d.rest.request('DELETE', obj.path, { query: { propagationPolicy: 'Background' } }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    d.metrics.apiWrites.inc({ kind: obj.kind, verb: 'delete' });
  }
  const archive = owned.filter(isArchive);
  // The namespace last: its annotation says the rest is done.
  archive.sort((a, b) => Number(a.kind === 'Namespace') - Number(b.kind === 'Namespace'));
  for (const obj of archive) {
    // An archive is not retained data a re-created Workspace may take over (holdfast.io/retained-from).
    const marks: Record<string, string | null> = { [ARCHIVE_OF]: `${ws.metadata.name}/${uid}`, [RETAINED_FROM]: null };
    if (obj.kind === 'Namespace') marks[ERASE_AFTER] = eraseAt.toISOString();
    await orphan(d.rest, obj, uid, marks);
    d.metrics.apiWrites.inc({ kind: obj.kind, verb: 'orphan' });
  }
  return eraseAt.toISOString();
}

export interface EraseDeps {
  rest: Rest;
  caches: Pick<Caches, 'namespaces' | 'backupDestinations'>;
  events: EventRecorder;
  log: Logger;
  now: () => Date;
}

/**
 * The deleted Workspace a namespace is the archive of, when it is one: made
 * by archiveWorkspace (named after it, marked with its name and uid) and
 * owned by nothing since. A namespace someone else annotated, or one a
 * Workspace has taken over, is never erased.
 */
export function archivedWorkspace(ns: KubeObject): string | undefined {
  const [name, uid] = (ns.metadata.annotations?.[ARCHIVE_OF] ?? '').split('/');
  if (!name || !uid || namespaceOf(name) !== ns.metadata.name) return undefined;
  if ((ns.metadata.ownerReferences ?? []).length > 0) return undefined;
  return name;
}

/** Erases the archives whose time has come; returns when to look again. */
export async function eraseDueArchives(d: EraseDeps): Promise<Outcome> {
  const now = d.now().getTime();
  let next = Infinity;
  for (const ns of d.caches.namespaces.list()) {
    const at = Date.parse(ns.metadata.annotations?.[ERASE_AFTER] ?? '');
    if (Number.isNaN(at) || ns.metadata.deletionTimestamp || !archivedWorkspace(ns)) continue;
    if (at > now) {
      next = Math.min(next, at);
      continue;
    }
    await eraseArchive(ns, d).catch(async (err: unknown) => {
      await d.events.record(
        { apiVersion: 'v1', kind: 'Namespace', metadata: ns.metadata },
        'Warning',
        'ArchiveEraseFailed',
        'Erase',
        `the archive in namespace ${ns.metadata.name} could not be erased yet: ${(err as Error).message}; retrying in 10 minutes`,
      );
      next = Math.min(next, now + 10 * 60_000);
    });
  }
  // Timers are capped, so that a clock change or a new archive is seen within the hour.
  return next === Infinity ? undefined : { requeueAfterMs: Math.max(1_000, Math.min(next - now, 3600_000)) };
}

async function eraseArchive(ns: KubeObject, d: EraseDeps): Promise<void> {
  const name = ns.metadata.name;
  const workspace = archivedWorkspace(ns)!;
  const backups = await d.rest.get<{ items: BackupObject[] }>(`/apis/holdfast.io/v1alpha1/namespaces/${name}/backups`);
  const stores = new Map<string, S3Destination>();
  let erased = 0;
  for (const b of backups.items) {
    const artifact = b.status?.artifact;
    // Only the archived workspace's own artifacts, whatever a Backup in its namespace says.
    if (!artifact?.startsWith(`${workspace}/`)) continue;
    for (const copy of b.status?.copies ?? []) {
      const dest = d.caches.backupDestinations.get(copy.destination);
      // A volume copy goes with the namespace.
      if (dest?.spec?.volume) continue;
      if (!dest?.spec?.s3)
        throw new Error(
          `BackupDestination "${copy.destination}" holding a copy of ${b.metadata.name} does not exist: re-create it, or delete namespace ${name} by hand and erase ${artifact} there`,
        );
      let store = stores.get(copy.destination);
      if (!store) {
        store = await s3Store(d.rest, copy.destination, dest.spec.s3);
        stores.set(copy.destination, store);
      }
      // Where the copy was stored, not where the destination points now.
      if (copy.location && copy.location !== store.location(artifact))
        throw new Error(
          `BackupDestination "${copy.destination}" no longer points where ${b.metadata.name} was stored (${copy.location}): point it back, or erase that copy by hand and delete namespace ${name}`,
        );
      await store.delete(artifact);
      await store.delete(manifestKey(artifact));
      erased++;
    }
  }
  await d.rest
    .request('DELETE', objectPath('Namespace', name), {
      body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: ns.metadata.uid } },
    })
    .catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  const note = `the archive of workspace ${ns.metadata.annotations?.[ARCHIVE_OF] ?? name} was erased after spec.retention.afterDeletion: ${backups.items.length} backups, ${erased} copies at object stores deleted; namespace ${name} deleted with its backup log, key and backup volume claims (their volumes go as their StorageClass's reclaim policy says)`;
  // The Event is the record people see; it expires with the cluster's Event TTL, the log line does not.
  d.log.info({ namespace: name, workspace, backups: backups.items.length, copies: erased }, note);
  await d.events.record(
    { apiVersion: 'v1', kind: 'Namespace', metadata: ns.metadata },
    'Normal',
    'ArchiveErased',
    'Erase',
    note,
  );
}

async function s3Store(rest: Rest, name: string, spec: S3DestinationSpec): Promise<S3Destination> {
  const credentials = await readS3Credentials(rest, name, spec);
  if (typeof credentials === 'string') throw new Error(credentials);
  return new S3Destination(name, {
    endpoint: spec.endpoint,
    bucket: spec.bucket,
    prefix: spec.prefix,
    region: spec.region,
    forcePathStyle: spec.forcePathStyle,
    ...credentials,
  });
}
