// The finalizer: what deleting a Workspace does to what it became.
//   Retain   - the namespace and its data stay; owner references are removed
//              so that garbage collection leaves them alone.
//   Delete   - the namespace is deleted, and the Workspace goes once it is gone.
//   Snapshot - takes a final backup, then deletes all but the archive, which
//              is erased after spec.retention.afterDeletion (archive.ts). With
//              no backup destination it cannot, so it retains like Retain and
//              says so.
// Failures are reported in status and Events and retried with backoff; the
// Workspace never hangs without saying why.
import { namespaceOf, type Workspace, type WorkspaceStatus } from '../api/workspace.js';
import type { Outcome } from '../runtime/queue.js';
import { MERGE_PATCH, isNotFound, objectPath, type KubeObject } from '../../kube/rest.js';
import type { ConditionInput } from './conditions.js';
import type { Deps } from './deps.js';
import { dropShared, type SharedDeps } from './database/shared.js';
import { sharedIdentifier } from '../database/shared.js';
import { orphan, ownedObjectsOf } from './orphan.js';
import { ARCHIVE_OF, RETAINED_FROM, ownedBy } from './ownership.js';
import { archiveWorkspace, finalBackupName, takeFinalBackup } from './archive.js';
import { findCondition } from './conditions.js';

export const FINALIZER = 'holdfast.io/deletion-policy';

type WriteStatus = (status: WorkspaceStatus, conditions: ConditionInput[]) => Promise<string[]>;

export async function ensureFinalizer(ws: Workspace, d: Deps): Promise<void> {
  const finalizers = ws.metadata.finalizers ?? [];
  if (finalizers.includes(FINALIZER)) return;
  // resourceVersion makes the merge patch conditional: no lost finalizers.
  await d.rest.request('PATCH', objectPath('Workspace', ws.metadata.name), {
    body: { metadata: { finalizers: [...finalizers, FINALIZER], resourceVersion: ws.metadata.resourceVersion } },
    contentType: MERGE_PATCH,
  });
  d.metrics.apiWrites.inc({ kind: 'Workspace', verb: 'finalizer' });
}

async function removeFinalizer(ws: Pick<Workspace, 'metadata'>, d: Deps): Promise<void> {
  const finalizers = (ws.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
  await d.rest.request('PATCH', objectPath('Workspace', ws.metadata.name), {
    body: {
      metadata: { finalizers: finalizers.length ? finalizers : null, resourceVersion: ws.metadata.resourceVersion },
    },
    contentType: MERGE_PATCH,
  });
  d.metrics.apiWrites.inc({ kind: 'Workspace', verb: 'finalizer' });
}

const DROPPED = 'holdfast.io/database-dropped';
/** Set on a Shared Workspace to be deleted without dropping its database (the server is gone). */
export const ABANDON_DATABASE = 'holdfast.io/abandon-database';

/** Identifies the Workspace being finalized; its spec may be unreadable. */
type Deleted = Pick<Workspace, 'apiVersion' | 'kind' | 'metadata'> & { status?: WorkspaceStatus };

/** Releases everything the Workspace owns, of every kind, and records where it came from. */
async function retainAll(ws: Deleted, d: Deps): Promise<void> {
  const uid = ws.metadata.uid!;
  for (const obj of await ownedObjectsOf(d.rest, uid, namespaceOf(ws.metadata.name))) {
    await orphan(d.rest, obj, uid, { [RETAINED_FROM]: `${ws.metadata.name}/${uid}` });
    d.metrics.apiWrites.inc({ kind: obj.kind, verb: 'orphan' });
  }
}

/**
 * A Workspace whose spec no longer validates (written under an older CRD)
 * still goes when deleted; what its deletionPolicy meant cannot be trusted,
 * so its data is kept as with Retain and an Event says so.
 */
export async function finalizeInvalid(ws: Deleted, d: Deps, problems: string): Promise<Outcome> {
  const ns = namespaceOf(ws.metadata.name);
  await retainAll(ws, d);
  await d.events.record(
    ws,
    'Warning',
    'RetainedInvalidSpec',
    'Delete',
    `the spec does not validate (${problems}), so its deletionPolicy is not acted on: namespace ${ns} and its data are retained as with Retain; delete them by hand once no longer needed`,
  );
  await removeFinalizer(ws, d);
}

/** deletionPolicy Delete or Snapshot on a Shared database; 'continue' when the finalizer may go on. */
async function dropSharedDatabase(
  ws: Workspace,
  d: Deps,
  writeStatus: WriteStatus,
  sharedDeps: SharedDeps,
): Promise<Outcome | 'continue'> {
  const server = ws.spec.database.serverRef;
  if (ws.metadata.annotations?.[DROPPED]) return 'continue';
  if (ws.metadata.annotations?.[ABANDON_DATABASE] === 'true') {
    await d.events.record(
      ws,
      'Warning',
      'DatabaseAbandoned',
      'Delete',
      `${ABANDON_DATABASE} is set: database and role ${sharedIdentifier(ws.metadata.name)} on SharedDatabaseServer ${server} were not dropped; drop them on the server by hand if they still exist`,
    );
  } else {
    const result = await dropShared(ws, sharedDeps);
    if ('unreachable' in result) {
      // Waiting will not bring the server back: stop and say how to go on.
      // A change to the server or to this Workspace comes back here.
      const message = `deletionPolicy ${ws.spec.deletionPolicy} cannot drop the database: ${result.unreachable}. To delete this Workspace without dropping it, run: kubectl annotate workspace ${ws.metadata.name} ${ABANDON_DATABASE}=true`;
      await writeStatus({ ...ws.status, phase: 'Deleting' }, [
        { type: 'Ready', status: 'False', reason: 'DatabaseNotDropped', message },
      ]);
      return undefined;
    }
    const id = sharedIdentifier(ws.metadata.name);
    await d.events.record(
      ws,
      result.leftAlone.length ? 'Warning' : 'Normal',
      'DatabaseDropped',
      'Delete',
      result.leftAlone.length
        ? `deletionPolicy ${ws.spec.deletionPolicy}: ${result.leftAlone.join(' and ')} on SharedDatabaseServer ${server} ${result.leftAlone.length > 1 ? 'were' : 'was'} not created by this Workspace and ${result.leftAlone.length > 1 ? 'were' : 'was'} left alone`
        : `deletionPolicy ${ws.spec.deletionPolicy}: dropped database and role ${id} on SharedDatabaseServer ${server}`,
    );
  }
  await d.rest.request('PATCH', objectPath('Workspace', ws.metadata.name), {
    body: { metadata: { annotations: { [DROPPED]: new Date().toISOString() } } },
    contentType: MERGE_PATCH,
  });
  return 'continue';
}

export async function finalizeWorkspace(
  ws: Workspace,
  d: Deps,
  writeStatus: WriteStatus,
  sharedDeps: SharedDeps,
): Promise<Outcome> {
  const policy = ws.spec.deletionPolicy;
  const ns = namespaceOf(ws.metadata.name);
  try {
    // A final backup only of what is this Workspace's: its own namespace.
    const namespace = d.caches.namespaces.get(ns) ?? (await d.rest.find<KubeObject>(objectPath('Namespace', ns)));
    const own = namespace !== undefined && ownedBy(namespace, ws.metadata.uid);
    // Archived already (a finalize cut short after the namespace was released): only the finalizer is left.
    const archived = namespace?.metadata.annotations?.[ARCHIVE_OF] === `${ws.metadata.name}/${ws.metadata.uid}`;
    const final =
      policy !== 'Snapshot' ? 'none' : own ? await takeFinalBackup(ws, d, writeStatus) : archived ? 'archived' : 'none';
    if (policy === 'Delete') {
      if (ws.spec.database.mode === 'Shared') {
        const dropped = await dropSharedDatabase(ws, d, writeStatus, sharedDeps);
        if (dropped !== 'continue') return dropped;
      }
      if (namespace && !own) {
        // Someone else's namespace of the same name: the Workspace never used it.
        await d.events.record(
          ws,
          'Normal',
          'NamespaceLeftAlone',
          'Delete',
          `namespace ${ns} was not created by this Workspace and is left alone`,
        );
      } else if (namespace) {
        if (!namespace.metadata.deletionTimestamp) {
          await d.rest
            .request('DELETE', objectPath('Namespace', ns), {
              query: { propagationPolicy: 'Background' },
              // Only the namespace that was read and judged ours.
              body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: namespace.metadata.uid } },
            })
            .catch((err: unknown) => {
              if (!isNotFound(err)) throw err;
            });
          d.metrics.apiWrites.inc({ kind: 'Namespace', verb: 'delete' });
          await d.events.record(
            ws,
            'Normal',
            'DeletingNamespace',
            'Delete',
            `deletionPolicy Delete: deleting namespace ${ns} and everything in it`,
          );
        }
        await writeStatus({ ...ws.status, phase: 'Deleting' }, [
          { type: 'Ready', status: 'False', reason: 'Deleting', message: `waiting for namespace ${ns} to be deleted` },
        ]);
        // The namespace informer requeues on the deletion; this is a backstop.
        return { requeueAfterMs: 5_000 };
      } else {
        await d.events.record(ws, 'Normal', 'Deleted', 'Delete', `namespace ${ns} and its data are deleted`);
      }
    } else if (final === 'archived') {
      // Said when it was archived.
    } else if (final !== 'none') {
      if (final !== 'continue') return final;
      if (ws.spec.database.mode === 'Shared') {
        const dropped = await dropSharedDatabase(ws, d, writeStatus, sharedDeps);
        if (dropped !== 'continue') return dropped;
      }
      const eraseAt = await archiveWorkspace(ws, d, (d.now ?? (() => new Date()))());
      await d.events.record(
        ws,
        'Normal',
        'Archived',
        'Delete',
        `deletionPolicy Snapshot: final backup ${finalBackupName(ws)} stored at every destination; the database and everything else deleted. Namespace ${ns} keeps the backup log (kubectl get backups -n ${ns}), the workspace key and the backup volumes until ${eraseAt} (spec.retention.afterDeletion ${ws.spec.retention.afterDeletion}); then they and every copy of the backups are erased`,
      );
    } else {
      await retainAll(ws, d);
      if (policy === 'Snapshot') {
        await d.events.record(
          ws,
          'Warning',
          'SnapshotNotAvailable',
          'Delete',
          `deletionPolicy Snapshot: no backup can be taken (${findCondition(ws.status?.conditions, 'BackupScheduled')?.message ?? 'spec.backup.destinations is empty'}), so namespace ${ns} and its data are retained as with Retain; delete the namespace by hand once it is no longer needed`,
        );
      } else {
        await d.events.record(
          ws,
          'Normal',
          'Retained',
          'Delete',
          `deletionPolicy Retain: namespace ${ns} and its data are kept`,
        );
      }
    }
    // Its gauges go with it: an alert on the age of its recovery point would fire forever.
    for (const gauge of [d.metrics.lastBackup, d.metrics.recoveryPoint, d.metrics.lastDrill, d.metrics.lastExport])
      gauge.remove({ workspace: ws.metadata.name });
    await removeFinalizer(ws, d);
  } catch (err) {
    const hint =
      policy === 'Delete' && ws.spec.database.mode === 'Shared'
        ? `; if the server will not come back, run: kubectl annotate workspace ${ws.metadata.name} ${ABANDON_DATABASE}=true`
        : '';
    const message = `deletionPolicy ${policy} failed: ${err instanceof Error ? err.message : String(err)}; retrying${hint}`;
    await writeStatus({ ...ws.status, phase: 'Deleting' }, [
      { type: 'Ready', status: 'False', reason: 'DeletionFailed', message },
    ]).catch(() => undefined);
    await d.events.record(ws, 'Warning', 'DeletionFailed', 'Delete', message);
    throw err;
  }
}
