// A tenant's Workspace, written through the Kubernetes API: created with the
// tenant, its settings saved by server-side apply as `holdfast-console`,
// suspended, deleted. The Workspace stays the source of truth; the console
// keeps only which tenant it belongs to.
import { z } from 'zod';
import { Forbidden, requirePlatformAdmin, requireTenant, type Viewer } from '../access.js';
import { appendAudit } from '../audit/log.js';
import type { Client } from '../auth/sign-in.js';
import type { ConsoleDb } from '../db/client.js';
import { ApiError, isNotFound } from '../../kube/rest.js';
import { API_VERSION, WORKSPACE_KIND, type Workspace } from '../../operator/api/workspace.js';
import { CREATED_BY, type WorkspaceApi } from '../workspaces.js';
import { TenantCreate, type Tenants, type TenantView } from './service.js';
import {
  currentSettings,
  CONSOLE_FIELD_MANAGER,
  fieldErrors,
  owns,
  planApply,
  type ApplyConfig,
  type SettingPath,
  type SettingValues,
} from './workspace-settings.js';

/** The apiserver refused a Workspace: messages by form field ('' for the form as a whole). */
export class WorkspaceRefused extends Error {
  override name = 'WorkspaceRefused';
  readonly statusCode: number;
  constructor(
    message: string,
    readonly fields: Record<string, string>,
    status: number,
  ) {
    super(message);
    this.statusCode = status;
  }
}

export class Unavailable extends Error {
  override name = 'Unavailable';
  readonly statusCode = 503;
}

/** The cluster's API, or what to check when the console has none. */
export function reachable(api: WorkspaceApi | undefined): WorkspaceApi {
  if (!api)
    throw new Unavailable(
      'the console cannot reach the Kubernetes API; check its service account and the cluster network policy',
    );
  return api;
}

export const NewWorkspace = z.object({
  databaseMode: z.enum(['Dedicated', 'Shared']).default('Dedicated'),
  serverRef: z.string().max(253).optional(),
  storageClassName: z.string().max(253).optional(),
  volumeSize: z.string().max(32).optional(),
});

export const TenantWithWorkspace = TenantCreate.extend({ workspaceSpec: NewWorkspace.prefault({}) });

export interface WorkspaceSettings {
  workspace: Workspace;
  values: SettingValues;
  /** Fields another manager (kubectl, GitOps) set last, by field: their manager. */
  setElsewhere: Partial<Record<SettingPath, string>>;
}

/** Settings that decide what becomes of the data, which only a platform administrator changes. */
const PLATFORM_ONLY: SettingPath[] = ['spec.suspend', 'spec.deletionPolicy', 'spec.retention.afterDeletion'];

export function refusal(err: unknown, what: string): never {
  if (err instanceof ApiError && err.code === 403)
    throw new Forbidden(
      `${what}: the console's service account may not do this (${err.message}); ` +
        "a platform administrator must allow it in the chart's RBAC",
    );
  if (
    err instanceof ApiError &&
    err.code === 404 &&
    err.reason === 'NotFound' &&
    /the server could not find the requested resource/.test(err.message)
  )
    throw new Unavailable(
      `${what}: the cluster has no Workspace resource; install Holdfast's CRDs (the Helm chart does)`,
    );
  if (err instanceof ApiError && (err.code === 422 || err.code === 400 || err.code === 409)) {
    const fields = fieldErrors(err.causes, err.message);
    if (err.code === 409 && err.reason === 'Conflict' && err.causes.some((c) => c.reason === 'FieldManagerConflict')) {
      const names = Object.keys(fields).filter(Boolean);
      for (const key of names) {
        const owner = /conflict with "([^"]+)"/.exec(fields[key]!)?.[1] ?? 'another client';
        fields[key] =
          `${owner} set this field to a different value since the console last saved it; ` +
          'tick "Overwrite changes made elsewhere" to replace it, or leave the field as it is';
      }
      throw new WorkspaceRefused(
        `${what}: ${names.join(', ')} changed outside the console (kubectl or GitOps); nothing was saved`,
        fields,
        409,
      );
    }
    throw new WorkspaceRefused(`${what}: ${err.message}`, fields, err.code === 409 ? 409 : 422);
  }
  throw err;
}

export class TenantWorkspaces {
  constructor(
    private readonly db: ConsoleDb,
    private readonly tenants: Tenants,
    private readonly api: WorkspaceApi | undefined,
    private readonly labels: Record<string, string> = {},
  ) {}

  private cluster(): WorkspaceApi {
    return reachable(this.api);
  }

  /**
   * A new tenant and its Workspace. The tenant row is written first, so a
   * second submit of the same id stops there; if the apiserver then refuses
   * the Workspace, the row goes too. A Workspace of that name that exists
   * already is never taken over.
   */
  async create(
    viewer: Viewer,
    input: z.input<typeof TenantWithWorkspace>,
    client: Client,
  ): Promise<{ tenant: TenantView; workspace: Workspace }> {
    requirePlatformAdmin(viewer);
    const data = TenantWithWorkspace.parse(input);
    const api = this.cluster();
    const name = data.workspace ?? data.id;
    const exists = () =>
      new WorkspaceRefused(
        `a Workspace "${name}" already exists; the console does not take over a Workspace it did not create — ` +
          'give it a tenant from "Workspaces without a tenant", or choose another id',
        { workspace: `Workspace "${name}" already exists` },
        409,
      );
    if (await this.tenants.workspaceTaken(name))
      throw new WorkspaceRefused(
        `another tenant already has Workspace "${name}"; choose another workspace name`,
        { workspace: 'another tenant has this workspace' },
        409,
      );
    if (await api.get(name)) throw exists();
    const spec = data.workspaceSpec;
    const config: ApplyConfig = {
      apiVersion: API_VERSION,
      kind: WORKSPACE_KIND,
      metadata: { name, labels: { ...this.labels, [CREATED_BY]: 'holdfast-console' } },
      spec: {
        tenant: data.id,
        displayName: data.displayName,
        database: {
          mode: spec.databaseMode,
          ...(spec.serverRef ? { serverRef: spec.serverRef } : {}),
        },
        ...(spec.storageClassName || spec.volumeSize
          ? {
              volume: {
                ...(spec.storageClassName ? { storageClassName: spec.storageClassName } : {}),
                ...(spec.volumeSize ? { size: spec.volumeSize } : {}),
              },
            }
          : {}),
      },
    };
    // The tenant first: a second submit of the same form stops at its id, before the cluster.
    const tenant = await this.tenants.create(
      viewer,
      { id: data.id, displayName: data.displayName, workspace: name },
      client,
      { workspace: config },
    );
    try {
      const workspace = await api.apply(config).catch((err: unknown) => refusal(err, `Workspace ${name} was refused`));
      // Made by someone else between the check and the apply: the console gives back what it set.
      const others = (workspace.metadata.managedFields ?? []).filter(
        (m) => m.manager !== CONSOLE_FIELD_MANAGER && (m as { subresource?: string }).subresource !== 'status',
      );
      if (others.length > 0) {
        await api.apply({ apiVersion: API_VERSION, kind: WORKSPACE_KIND, metadata: { name } });
        throw exists();
      }
      return { tenant, workspace };
    } catch (err) {
      // No Workspace, no tenant: a refused Workspace leaves nothing behind.
      await this.tenants.remove(viewer, data.id, client, { reason: String(err) }).catch(() => undefined);
      throw err;
    }
  }

  /** The tenant's Workspace with the values the settings form shows. */
  async settings(viewer: Viewer, tenantId: string): Promise<WorkspaceSettings | undefined> {
    const tenant = await this.tenants.get(viewer, tenantId);
    const ws = await this.cluster().get(tenant.workspace);
    return ws ? settingsOf(ws) : undefined;
  }

  /**
   * Saves changed settings on the tenant's Workspace. Nothing changed is
   * nothing written. Without `force`, a field someone else set (kubectl,
   * GitOps) is not overwritten: the apiserver refuses and names it.
   */
  async save(
    viewer: Viewer,
    tenantId: string,
    values: SettingValues,
    client: Client,
    opts: { force?: boolean } = {},
  ): Promise<{ changed: SettingPath[]; workspace: Workspace }> {
    requireTenant(viewer, tenantId, true);
    const tenant = await this.tenants.get(viewer, tenantId);
    const api = this.cluster();
    const ws = await api.get(tenant.workspace);
    if (!ws) throw new WorkspaceRefused(`Workspace ${tenant.workspace} does not exist`, {}, 404);
    const plan = planApply(ws, values);
    const reserved = plan.changed.filter((path) => PLATFORM_ONLY.includes(path));
    if (reserved.length > 0 && viewer.role !== 'platform-admin')
      throw new Forbidden(
        `only a platform administrator can change ${reserved.join(', ')}: ` +
          'it decides what becomes of the data; ask yours to change it',
      );
    if (plan.changed.length === 0) return { changed: [], workspace: ws };
    const written = await api
      .apply(plan.config, opts)
      .catch((err: unknown) => refusal(err, `Workspace ${tenant.workspace} was not changed`));
    const before = currentSettings(ws);
    const after = currentSettings(written);
    await this.db.transaction((tx) =>
      appendAudit(tx, {
        actor: viewer.email,
        tenantId,
        action: 'workspace.updated',
        target: `workspace/${tenant.workspace}`,
        ip: client.ip,
        before: Object.fromEntries(plan.changed.map((p) => [p, before[p] ?? null])),
        after: Object.fromEntries(plan.changed.map((p) => [p, after[p] ?? null])),
      }),
    );
    return { changed: plan.changed, workspace: written };
  }

  /**
   * Deletes the tenant and its people, and its Workspace when the console
   * created it (whose deletionPolicy decides what becomes of the data). A
   * Workspace made with kubectl or GitOps and given a tenant later stays.
   * `confirm` must be the tenant's id; `seenPolicy`, the deletion policy the
   * person was shown: when it changed since, nothing is deleted.
   */
  async remove(
    viewer: Viewer,
    tenantId: string,
    confirm: string,
    client: Client,
    opts: { seenPolicy?: string } = {},
  ): Promise<{ workspaceKept: boolean }> {
    requirePlatformAdmin(viewer);
    const tenant = await this.tenants.get(viewer, tenantId);
    if (confirm.trim() !== tenantId)
      throw new WorkspaceRefused(
        `type the tenant id "${tenantId}" to confirm`,
        { confirm: `type "${tenantId}" to confirm` },
        400,
      );
    const api = this.cluster();
    const ws = await api.get(tenant.workspace);
    const policy = ws?.spec.deletionPolicy ?? '';
    if (ws && opts.seenPolicy !== undefined && opts.seenPolicy !== policy)
      throw new WorkspaceRefused(
        `the deletion policy of Workspace ${ws.metadata.name} changed to ${policy || 'its default'} since this page ` +
          'was loaded; nothing was deleted: read what it now means and confirm again',
        { confirm: `the deletion policy is now ${policy || 'its default'}` },
        409,
      );
    const ours = createdByConsole(ws);
    if (ws && ours) {
      await api.remove(ws.metadata.name, ws.metadata.uid!).catch((err: unknown) => {
        if (!isNotFound(err)) refusal(err, `Workspace ${ws.metadata.name} was not deleted`);
      });
    }
    await this.tenants.remove(viewer, tenantId, client, {
      workspace: tenant.workspace,
      deletionPolicy: ws?.spec.deletionPolicy ?? null,
      workspaceKept: Boolean(ws && !ours),
    });
    return { workspaceKept: Boolean(ws && !ours) };
  }
}

/** Whether the console made this Workspace with a tenant (rather than being given one made elsewhere). */
export function createdByConsole(ws: Workspace | undefined): boolean {
  return ws?.metadata.labels?.[CREATED_BY] === 'holdfast-console';
}

/** The values the settings form shows, and which of them another manager set last. */
export function settingsOf(ws: Workspace): WorkspaceSettings {
  const setElsewhere: Partial<Record<SettingPath, string>> = {};
  const values = currentSettings(ws);
  for (const m of ws.metadata.managedFields ?? []) {
    if (m.manager === 'holdfast-console' || !m.manager) continue;
    for (const path of Object.keys(values) as SettingPath[]) if (owns(m.fieldsV1, path)) setElsewhere[path] = m.manager;
  }
  return { workspace: ws, values, setElsewhere };
}
