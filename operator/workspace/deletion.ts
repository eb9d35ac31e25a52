// The finalizer: what deleting a Workspace does to what it became.
//   Retain   - the namespace and its data stay; owner references are removed
//              so that garbage collection leaves them alone.
//   Delete   - the namespace is deleted, and the Workspace goes once it is gone.
//   Snapshot - takes a final backup, then deletes. Backups are not part of this
//              version yet, so it retains like Retain and says so.
// Failures are reported in status and Events and retried with backoff; the
// Workspace never hangs without saying why.
import { namespaceOf, type Workspace, type WorkspaceStatus } from '../api/workspace.js';
import type { Outcome } from '../runtime/queue.js';
import { MERGE_PATCH, isNotFound, pathOf, objectPath, type KubeObject } from '../../kube/rest.js';
import type { ConditionInput } from './conditions.js';
import type { Deps } from './deps.js';
import { dropShared, type SharedDeps } from './database/shared.js';

export const FINALIZER = 'holdfast.io/deletion-policy';
export const RETAINED_ANNOTATION = 'holdfast.io/retained-from';

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

async function removeFinalizer(ws: Workspace, d: Deps): Promise<void> {
  const finalizers = (ws.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
  await d.rest.request('PATCH', objectPath('Workspace', ws.metadata.name), {
    body: {
      metadata: { finalizers: finalizers.length ? finalizers : null, resourceVersion: ws.metadata.resourceVersion },
    },
    contentType: MERGE_PATCH,
  });
  d.metrics.apiWrites.inc({ kind: 'Workspace', verb: 'finalizer' });
}

/** Everything in the caches that this workspace owns. */
function ownedObjects(ws: Workspace, d: Deps): KubeObject[] {
  const uid = ws.metadata.uid;
  const ns = namespaceOf(ws.metadata.name);
  const {
    namespaces,
    networkPolicies,
    resourceQuotas,
    limitRanges,
    claims,
    tlsSecrets,
    appSecrets,
    statefulSets,
    services,
    configMaps,
  } = d.caches;
  const inNs = [
    networkPolicies,
    resourceQuotas,
    limitRanges,
    claims,
    tlsSecrets,
    appSecrets,
    statefulSets,
    services,
    configMaps,
  ].flatMap((c) => c.list().filter((o) => o.metadata.namespace === ns));
  const all = [...namespaces.list().filter((n) => n.metadata.name === ns), ...inNs];
  return all.filter((o) => o.metadata.ownerReferences?.some((r) => r.uid === uid));
}

const DROPPED = 'holdfast.io/database-dropped';

export async function finalizeWorkspace(
  ws: Workspace,
  d: Deps,
  writeStatus: WriteStatus,
  sharedDeps: SharedDeps,
): Promise<Outcome> {
  const policy = ws.spec.deletionPolicy;
  const ns = namespaceOf(ws.metadata.name);
  try {
    if (policy === 'Delete') {
      if (ws.spec.database.mode === 'Shared' && !ws.metadata.annotations?.[DROPPED]) {
        await dropShared(ws, sharedDeps);
        await d.rest.request('PATCH', objectPath('Workspace', ws.metadata.name), {
          body: { metadata: { annotations: { [DROPPED]: new Date().toISOString() } } },
          contentType: MERGE_PATCH,
        });
        await d.events.record(
          ws,
          'Normal',
          'DatabaseDropped',
          'Delete',
          `deletionPolicy Delete: dropped database and role ${ws.metadata.name} on SharedDatabaseServer ${ws.spec.database.serverRef}`,
        );
      }
      const namespace = d.caches.namespaces.get(ns);
      if (namespace) {
        if (!namespace.metadata.deletionTimestamp) {
          await d.rest
            .request('DELETE', objectPath('Namespace', ns), { query: { propagationPolicy: 'Background' } })
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
      }
      await d.events.record(ws, 'Normal', 'Deleted', 'Delete', `namespace ${ns} and its data are deleted`);
    } else {
      for (const obj of ownedObjects(ws, d)) {
        const refs = (obj.metadata.ownerReferences ?? []).filter((r) => r.uid !== ws.metadata.uid);
        await d.rest.request('PATCH', pathOf(obj), {
          body: {
            metadata: {
              ownerReferences: refs.length ? refs : null,
              annotations: { [RETAINED_ANNOTATION]: `${ws.metadata.name}/${ws.metadata.uid}` },
            },
          },
          contentType: MERGE_PATCH,
        });
        d.metrics.apiWrites.inc({ kind: obj.kind, verb: 'orphan' });
      }
      if (policy === 'Snapshot') {
        await d.events.record(
          ws,
          'Warning',
          'SnapshotNotAvailable',
          'Delete',
          `deletionPolicy Snapshot needs backups, which this version does not take yet: namespace ${ns} and its data are retained as with Retain; delete the namespace by hand once it is no longer needed`,
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
    await removeFinalizer(ws, d);
  } catch (err) {
    const message = `deletionPolicy ${policy} failed: ${err instanceof Error ? err.message : String(err)}; retrying`;
    await writeStatus({ ...ws.status, phase: 'Deleting' }, [
      { type: 'Ready', status: 'False', reason: 'DeletionFailed', message },
    ]).catch(() => undefined);
    await d.events.record(ws, 'Warning', 'DeletionFailed', 'Delete', message);
    throw err;
  }
}
