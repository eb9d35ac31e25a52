// Who may see and change what. Every API route and every page loader goes
// through these checks, on the server.
import type { Role, User } from './db/schema.js';

export interface Viewer {
  id: string;
  email: string;
  name: string;
  role: Role;
  /** null: every tenant (platform admin, cluster-wide auditor). */
  tenantId: string | null;
}

export class Forbidden extends Error {
  override name = 'Forbidden';
  readonly statusCode = 403;
}

export class NotFound extends Error {
  override name = 'NotFound';
  readonly statusCode = 404;
}

export function viewerOf(user: User): Viewer {
  return { id: user.id, email: user.email, name: user.name, role: user.role, tenantId: user.tenantId };
}

export function canReadTenant(viewer: Viewer, tenantId: string): boolean {
  return viewer.tenantId === null || viewer.tenantId === tenantId;
}

export function canWriteTenant(viewer: Viewer, tenantId: string): boolean {
  if (viewer.role === 'platform-admin') return true;
  return viewer.role === 'tenant-admin' && viewer.tenantId === tenantId;
}

/**
 * Refuses with 404 when the tenant is not even visible (its existence is not
 * confirmed to outsiders) and 403 when it is visible but read-only.
 */
export function requireTenant(viewer: Viewer, tenantId: string, write: boolean): void {
  if (!canReadTenant(viewer, tenantId)) throw new NotFound(`no tenant "${tenantId}"`);
  if (write && !canWriteTenant(viewer, tenantId))
    throw new Forbidden(`your role (${viewer.role}) cannot change tenant "${tenantId}"`);
}

export function requirePlatformAdmin(viewer: Viewer): void {
  if (viewer.role !== 'platform-admin') throw new Forbidden('only a platform administrator can do this');
}

/** The whole audit chain (every tenant) is for platform admins and cluster-wide auditors. */
export function canExportWholeAudit(viewer: Viewer): boolean {
  return viewer.tenantId === null && (viewer.role === 'platform-admin' || viewer.role === 'auditor');
}
