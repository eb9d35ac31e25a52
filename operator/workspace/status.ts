// A Workspace's status: written once per reconcile when it differs, and the
// Events its condition changes are worth.
import type { Condition, Workspace, WorkspaceStatus } from '../api/workspace.js';
import { APPLY_PATCH, FIELD_MANAGER, isSubset } from '../../kube/apply.js';
import { objectPath, type KubeObject } from '../../kube/rest.js';
import { findCondition, setCondition, type ConditionInput } from './conditions.js';
import type { Deps } from './deps.js';

/** Reasons that will not clear by waiting: the user has to act. */
export const NEEDS_ACTION = new Set([
  'CertManagerNotInstalled',
  'CloudNativePGNotInstalled',
  'ServerNotFound',
  'AdminSecretInvalid',
  'CASecretInvalid',
  'NotOwned',
  'ServerUnreachable',
  'DatabaseNotDropped',
]);

/** Conditions whose transitions are worth an Event once the workspace has been Ready. */
const EVENTFUL = ['Ready', 'VolumeReady', 'VolumeEncrypted', 'CertificateReady', 'DatabaseReady'];
/** Results of the workspace's jobs: every transition is news. */
const JOB_RESULTS = ['LastBackupSucceeded', 'RestoreTestPassed', 'LastExportSucceeded'];

/**
 * Whether a condition's transition gets an Event. While a workspace is first
 * provisioned its parts become ready one by one, as planned: only its Ready
 * says so, once, and a part only when someone has to act. Afterwards every
 * degradation and recovery is told. (A thousand workspaces created make a
 * thousand Events, not eight thousand.)
 */
export function worthAnEvent(type: string, to: Pick<Condition, 'status' | 'reason'>, wasReady: boolean): boolean {
  if (to.status === 'Unknown') return false; // not known yet is nothing to warn about
  if (JOB_RESULTS.includes(type)) return true;
  if (!EVENTFUL.includes(type)) return false;
  if (type === 'Ready' && to.status === 'True') return true;
  return wasReady || (to.status === 'False' && NEEDS_ACTION.has(to.reason));
}

/**
 * Writes status with server-side apply when it differs from the cached one.
 * Returns the condition types whose status changed (and records Events).
 */
export async function writeWorkspaceStatus(
  d: Deps,
  ws: Workspace,
  base: WorkspaceStatus,
  updates: ConditionInput[],
): Promise<string[]> {
  const now = (d.now ?? (() => new Date()))();
  const generation = ws.metadata.generation;
  // The status as last written, if the cache has not caught up with it yet:
  // a reconcile right after another would otherwise write the same again.
  const wire = ws as unknown as KubeObject;
  const known = (d.applier.fresher(wire, wire) as unknown as Workspace).status;
  let conditions: Condition[] = known?.conditions ?? [];
  for (const u of updates) conditions = setCondition(conditions, u, generation, now);
  const status: WorkspaceStatus = { ...base, observedGeneration: generation, conditions };
  // A change of status, or a new reason that someone has to act on (a
  // deletion that stops on a server gone, after the workspace already said
  // the server was missing).
  const transitions = updates
    .filter((u) => {
      const was = findCondition(known?.conditions, u.type);
      return (
        was?.status !== u.status || (u.status === 'False' && NEEDS_ACTION.has(u.reason) && was.reason !== u.reason)
      );
    })
    .map((u) => u.type);
  if (isSubset(status, known) && isSubset(known, status)) return [];

  const written = await d.rest.request<KubeObject>('PATCH', `${objectPath('Workspace', ws.metadata.name)}/status`, {
    body: { apiVersion: ws.apiVersion, kind: ws.kind, metadata: { name: ws.metadata.name }, status },
    contentType: APPLY_PATCH,
    query: { fieldManager: FIELD_MANAGER, force: 'true' },
  });
  d.applier.remember(written);
  d.metrics.apiWrites.inc({ kind: 'Workspace', verb: 'status' });
  const wasReady = findCondition(known?.conditions, 'Ready')?.status === 'True';
  for (const type of transitions) {
    const c = conditions.find((x) => x.type === type)!;
    // An unencrypted volume is recorded by the caller, with what to change.
    if (type === 'VolumeEncrypted' && c.status !== 'True') continue;
    if (!worthAnEvent(type, c, wasReady)) continue;
    await d.events.record(
      ws,
      c.status === 'True' ? 'Normal' : 'Warning',
      c.reason,
      `Set${type}`,
      `${type}=${c.status}: ${c.message}`,
    );
  }
  return transitions;
}
