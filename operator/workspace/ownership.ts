// What counts as a Workspace's own, so that Holdfast never adopts, changes or
// deletes what it did not create. An object is the Workspace's when it carries
// an owner reference to the Workspace's uid. An object retained by an earlier
// Workspace (deletionPolicy Retain or Snapshot) carries the record
// `holdfast.io/retained-from: <name>/<uid>`; a new Workspace takes it over only
// when it carries the same record itself, which is the explicit, documented
// opt-in to reuse retained data.
import type { KubeObject } from '../../kube/rest.js';
import type { Workspace } from '../api/workspace.js';
import { WORKSPACE_LABEL } from './owner.js';

export const RETAINED_FROM = 'holdfast.io/retained-from';
/** On the namespace Snapshot keeps: the Workspace (name/uid) it is the archive of, and when it is erased. */
export const ARCHIVE_OF = 'holdfast.io/archive-of';
export const ERASE_AFTER = 'holdfast.io/erase-after';

/** The record Retain leaves on what it keeps, and that a Workspace sets to reuse it. */
export function retainedRecord(ws: Workspace): string {
  return `${ws.metadata.name}/${ws.metadata.uid}`;
}

/** The uid of the earlier Workspace whose retained data `ws` asks to reuse. */
export function reusedUid(ws: Workspace): string | undefined {
  const record = ws.metadata.annotations?.[RETAINED_FROM];
  const slash = record?.lastIndexOf('/') ?? -1;
  return record && slash > 0 && record.slice(0, slash) === ws.metadata.name ? record.slice(slash + 1) : undefined;
}

export function ownedBy(obj: KubeObject, uid: string | undefined): boolean {
  return uid !== undefined && (obj.metadata.ownerReferences ?? []).some((r) => r.uid === uid);
}

function describe(obj: KubeObject): string {
  return `${obj.kind} ${obj.metadata.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata.name}`;
}

/**
 * Why `ws` may not write over `existing`, or undefined when it may. Inside
 * the Workspace's own namespace, an object labelled for it and controlled by
 * nobody counts as its own too: cert-manager writes the certificate Secret
 * with the labels the Workspace's Certificate asks for.
 */
export function ownershipProblem(ws: Workspace, existing: KubeObject): string | undefined {
  if (ownedBy(existing, ws.metadata.uid)) return undefined;
  const controlled = (existing.metadata.ownerReferences ?? []).some((r) => r.controller);
  const retained = existing.metadata.annotations?.[RETAINED_FROM];
  if (!controlled && retained !== undefined && retained === ws.metadata.annotations?.[RETAINED_FROM]) return undefined;
  if (
    !controlled &&
    existing.kind !== 'Namespace' &&
    existing.metadata.labels?.[WORKSPACE_LABEL] === ws.metadata.name &&
    existing.metadata.labels?.['app.kubernetes.io/managed-by'] === undefined
  )
    return undefined;
  const name = ws.metadata.name;
  const archiveOf = existing.metadata.annotations?.[ARCHIVE_OF];
  if (archiveOf !== undefined && !controlled) {
    const until = existing.metadata.annotations?.[ERASE_AFTER] ?? 'its erasure';
    return `${describe(existing)} is the archive of the deleted Workspace ${archiveOf} (its backups, kept by deletionPolicy Snapshot until ${until}); nothing was changed. Choose another Workspace name, or wait until it is erased: deleting it by hand would leave its backups at the object stores`;
  }
  if (retained !== undefined && !controlled) {
    return `${describe(existing)} was kept by deletionPolicy of an earlier Workspace (${RETAINED_FROM}: ${retained}); nothing was changed. To reuse its data, annotate this Workspace: kubectl annotate workspace ${name} ${RETAINED_FROM}=${retained}; otherwise delete it or choose another name`;
  }
  return `${describe(existing)} already exists and was not created by this Workspace; nothing was changed. Delete or rename it, or choose another Workspace name`;
}
