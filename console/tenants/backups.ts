// A tenant's backup log, read from its Backup resources, with what the
// retention tiers keep each backup for; a backup now (a Backup the operator
// runs); a restore request (a Restore). The console keeps none of it: the
// resources are the log, and kubectl shows the same.
import { randomBytes } from 'node:crypto';
import { Forbidden, requireTenant, type Viewer } from '../access.js';
import { appendAudit } from '../audit/log.js';
import type { Client } from '../auth/sign-in.js';
import type { ConsoleDb } from '../db/client.js';
import type { Retention } from '../../operator/api/retention.js';
import type { Workspace } from '../../operator/api/workspace.js';
import type { RestoreResource, WorkspaceApi } from '../workspaces.js';
import { backupRows, type BackupRow } from './backup-rows.js';
import type { Tenants } from './service.js';
import { WorkspaceRefused, reachable, refusal } from './workspaces.js';

export interface RestoreRow {
  name: string;
  backup: string;
  phase: string;
  message?: string;
  createdAt?: string;
  safetyBackup?: string;
}

export interface BackupLog {
  workspace: string;
  namespace: string;
  /** The database a restore replaces. */
  database: string;
  retention: Retention;
  schedule: string;
  backups: BackupRow[];
  restores: RestoreRow[];
}

/** Timestamps as names: `<workspace>-console-20261201-093000`. */
function stamp(at = new Date()): string {
  return at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace('T', '-')
    .replace(/\.\d+Z$/, '');
}

function restoreRow(r: RestoreResource): RestoreRow {
  return {
    name: r.metadata.name,
    backup: r.status?.backup ?? r.spec?.backup ?? r.spec?.before ?? '',
    phase: r.status?.phase ?? 'Pending',
    ...(r.status?.message ? { message: r.status.message } : {}),
    ...(r.metadata.creationTimestamp ? { createdAt: r.metadata.creationTimestamp } : {}),
    ...(r.status?.safetyBackup ? { safetyBackup: r.status.safetyBackup } : {}),
  };
}

export class TenantBackups {
  constructor(
    private readonly db: ConsoleDb,
    private readonly tenants: Tenants,
    private readonly api: WorkspaceApi | undefined,
  ) {}

  /** The tenant's Workspace: from the watch for a page, read afresh (`fresh`) before a change. */
  private async workspace(
    viewer: Viewer,
    tenantId: string,
    fresh = true,
  ): Promise<{ api: WorkspaceApi; ws: Workspace }> {
    const tenant = await this.tenants.get(viewer, tenantId);
    const api = reachable(this.api);
    const ws = fresh ? await api.get(tenant.workspace) : await api.cached(tenant.workspace);
    if (!ws) throw new WorkspaceRefused(`there is no Workspace ${tenant.workspace}`, {}, 404);
    return { api, ws };
  }

  async log(viewer: Viewer, tenantId: string): Promise<BackupLog> {
    const { ws } = await this.workspace(viewer, tenantId, false);
    return this.logOf(ws);
  }

  /** The log of a Workspace the caller has already read, and may see. */
  async logOf(ws: Workspace): Promise<BackupLog> {
    const api = reachable(this.api);
    const [backups, restores] = await Promise.all([api.backupsOf(ws), api.restoresOf(ws)]);
    // A backup a Restore needs is kept whatever the tiers say, as the operator's pruning does.
    const pinned = new Set(
      restores
        .flatMap((r) => [r.status?.backup, r.spec?.backup, r.status?.safetyBackup])
        .filter((n) => n !== undefined),
    );
    return {
      workspace: ws.metadata.name,
      namespace: ws.status?.namespace ?? `ws-${ws.metadata.name}`,
      database: ws.status?.database?.name ?? 'app',
      retention: ws.spec.backup.retention,
      schedule: ws.spec.backup.schedule,
      backups: backupRows(backups, ws.spec.backup.retention, pinned),
      restores: restores.map(restoreRow),
    };
  }

  /** A Backup now, outside the schedule. */
  async backupNow(viewer: Viewer, tenantId: string, client: Client): Promise<string> {
    requireTenant(viewer, tenantId, true);
    const { api, ws } = await this.workspace(viewer, tenantId);
    const name = `${ws.metadata.name}-console-${stamp()}-${randomBytes(2).toString('hex')}`;
    await api.createBackup(ws, name).catch((err: unknown) => refusal(err, 'The backup was not asked for'));
    await this.db.transaction((tx) =>
      appendAudit(tx, {
        actor: viewer.email,
        tenantId,
        action: 'backup.requested',
        target: `backup/${ws.metadata.name}/${name}`,
        ip: client.ip,
      }),
    );
    return name;
  }

  /**
   * A Restore of `backup` over the workspace's database. `confirm` must be
   * the workspace's name: the page says what will be replaced. The operator
   * takes a safety backup of the current data first.
   */
  async restore(viewer: Viewer, tenantId: string, backup: string, confirm: string, client: Client): Promise<string> {
    requireTenant(viewer, tenantId, true);
    if (viewer.role === 'auditor') throw new Forbidden('an auditor cannot restore');
    const { api, ws } = await this.workspace(viewer, tenantId);
    if (confirm.trim() !== ws.metadata.name)
      throw new WorkspaceRefused(
        `type the workspace name "${ws.metadata.name}" to confirm the restore`,
        { confirm: `type "${ws.metadata.name}" to confirm` },
        400,
      );
    const found = (await api.backupsOf(ws)).find((b) => b.metadata.name === backup);
    if (!found || found.status?.phase !== 'Succeeded')
      throw new WorkspaceRefused(`backup ${backup} is not a succeeded backup of ${ws.metadata.name}`, {}, 400);
    const name = `restore-${stamp()}-${randomBytes(2).toString('hex')}`;
    await api.createRestore(ws, name, backup).catch((err: unknown) => refusal(err, 'The restore was not created'));
    await this.db.transaction((tx) =>
      appendAudit(tx, {
        actor: viewer.email,
        tenantId,
        action: 'restore.requested',
        target: `restore/${ws.metadata.name}/${name}`,
        ip: client.ip,
        after: { backup, completedAt: found.status?.completedAt ?? null },
      }),
    );
    return name;
  }
}
