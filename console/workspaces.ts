// The console's read of Workspace status from the Kubernetes API. The
// Workspace is the source of truth; the console only shows it.
import { hostname } from 'node:os';
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  BACKUP_KIND,
  type DestinationSpec,
  type BackupResourceSpec,
  type BackupResourceStatus,
} from '../operator/api/backup.js';
import { RESTORE_KIND, type RestoreSpec, type RestoreStatus } from '../operator/api/restore.js';
import { NAMESPACE_PREFIX, type Workspace } from '../operator/api/workspace.js';
import { EventRecorder } from '../kube/events.js';
import { APPLY_PATCH } from '../kube/apply.js';
import { Informer } from '../kube/informer.js';
import { RESOURCES, Rest, collectionPath, objectPath, type KubeObject } from '../kube/rest.js';
import { CONSOLE_FIELD_MANAGER, type ApplyConfig } from './tenants/workspace-settings.js';

export const DEFAULT_CONSOLE_NAMESPACE = 'holdfast-system';

/** Where the console runs: its Events are written in this namespace, regarding this Pod. */
export interface ConsolePod {
  namespace: string;
  name: string;
}

export interface WorkspaceSummary {
  name: string;
  phase: string;
  ready: boolean;
  reason: string;
  message: string;
  databaseMode: string;
  suspended: boolean;
  lastBackup?: string;
  lastVerified?: string;
  recoveryPoint?: string;
  certificateExpiry?: string;
}

/** A Workspace's Event as the console shows it. */
export interface WorkspaceEvent {
  type: string;
  reason: string;
  message: string;
  /** When it last happened. */
  at: string;
  count: number;
}

/**
 * The console's view of Workspaces in the Kubernetes API: a watch-backed cache
 * for pages and live status, fresh reads before an edit, and server-side
 * applies under the console's own field manager.
 */
export class WorkspaceApi {
  private readonly events: EventRecorder;
  private readonly rest: Rest;
  private readonly informer: Informer<Workspace & KubeObject>;
  /** Every Backup and Restore, so that a tenant's pages read none from the apiserver. */
  private readonly backups: Informer<BackupResource>;
  private readonly restores: Informer<RestoreResource>;
  private readonly backupsWatch: LazyWatch;
  private readonly summaries = new Map<string, WorkspaceSummary>();
  /** What `all()` hands out: a new map after any change, so that a reader can tell by identity. */
  private snapshot: ReadonlyMap<string, WorkspaceSummary> | undefined;
  private readonly listeners = new Map<string, Set<(ws: Workspace | undefined) => void>>();
  private readonly workspaceWatch: LazyWatch;
  private readonly eventCache = new Map<string, { at: number; events: WorkspaceEvent[] }>();
  private choiceCache: { at: number; value: Choices } | undefined;
  private listed: { at: number; items: Map<string, WorkspaceSummary> } | undefined;

  constructor(
    kc: k8s.KubeConfig,
    private readonly log: Logger,
    /** The console's Pod (HOLDFAST_NAMESPACE, the Pod's host name), which its Events regard. */
    private readonly self: ConsolePod = { namespace: DEFAULT_CONSOLE_NAMESPACE, name: hostname() },
  ) {
    this.rest = new Rest(kc);
    this.events = new EventRecorder(kc, 'holdfast-console', undefined, log, 'holdfast.io/console');
    // managedFields kept: the tenant page says which fields kubectl or GitOps set.
    this.informer = new Informer<Workspace & KubeObject>(kc, { kind: 'Workspace', keepManagedFields: true }, log);
    this.backups = new Informer<BackupResource>(kc, { kind: 'Backup' }, log);
    this.restores = new Informer<RestoreResource>(kc, { kind: 'Restore' }, log);
    this.workspaceWatch = new LazyWatch(() => this.informer.start());
    this.backupsWatch = new LazyWatch(() => Promise.all([this.backups.start(), this.restores.start()]));
    this.informer.onChange((ws, kind) => {
      const name = ws.metadata.name;
      if (kind === 'delete') this.summaries.delete(name);
      else this.summaries.set(name, summarize(ws));
      this.snapshot = undefined;
      for (const listener of this.listeners.get(name) ?? []) listener(kind === 'delete' ? undefined : ws);
    });
  }

  static fromEnvironment(log: Logger): WorkspaceApi | undefined {
    try {
      const kc = new k8s.KubeConfig();
      kc.loadFromDefault();
      if (!kc.getCurrentCluster()) return undefined;
      return new WorkspaceApi(kc, log, {
        namespace: process.env.HOLDFAST_NAMESPACE || DEFAULT_CONSOLE_NAMESPACE,
        name: process.env.HOLDFAST_POD_NAME || hostname(),
      });
    } catch {
      return undefined;
    }
  }

  private watching(): Promise<boolean> {
    return this.workspaceWatch.ready();
  }

  private watchingBackups(): Promise<boolean> {
    return this.backupsWatch.ready();
  }

  /**
   * Until the watch has seen an object this console just wrote (so the page
   * shown after a change shows it), for at most 2 s.
   */
  private async seen(has: () => boolean): Promise<void> {
    for (let waited = 0; waited < 2_000 && !has(); waited += 20) await new Promise((r) => setTimeout(r, 20));
  }

  async stop(): Promise<void> {
    if (this.backupsWatch.started) await Promise.all([this.backups.stop(), this.restores.stop()]);
    if (this.workspaceWatch.started) await this.informer.stop();
  }

  /** All Workspaces by name, from the watch (or a list at most 5 s old); undefined when the cluster cannot be reached. */
  async all(): Promise<ReadonlyMap<string, WorkspaceSummary> | undefined> {
    if (await this.watching()) return (this.snapshot ??= new Map(this.summaries));
    if (this.listed && Date.now() - this.listed.at < 5_000) return this.listed.items;
    try {
      const list = await this.rest.get<{ items: Workspace[] }>(collectionPath('Workspace'));
      const items = new Map(list.items.map((ws) => [ws.metadata.name, summarize(ws)]));
      this.listed = { at: Date.now(), items };
      return items;
    } catch (err) {
      this.log.warn({ err: String(err) }, 'could not list Workspaces');
      return undefined;
    }
  }

  /** The Workspace as the apiserver has it now, with its managedFields; undefined when there is none. */
  get(name: string): Promise<Workspace | undefined> {
    return this.rest.find<Workspace>(objectPath('Workspace', name));
  }

  /**
   * The Workspace as the console's watch has it (managedFields included), for
   * pages; read from the apiserver while the watch is not there. Never to
   * be changed by the caller. An edit reads with `get`.
   */
  async cached(name: string): Promise<Workspace | undefined> {
    if (await this.watching()) return this.informer.get(name);
    return this.get(name);
  }

  /** Called with the Workspace each time the watch sees it change (undefined once deleted). */
  subscribe(name: string, listener: (ws: Workspace | undefined) => void): () => void {
    void this.watching();
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      // Only this set: another viewer may have subscribed to a new one since.
      if (set.size === 0 && this.listeners.get(name) === set) this.listeners.delete(name);
    };
  }

  /**
   * Server-side apply as `holdfast-console`. Without `force` a field another
   * manager set to another value is a 409 naming it, and nothing is written.
   */
  async apply(config: ApplyConfig, opts: { force?: boolean; dryRun?: boolean } = {}): Promise<Workspace> {
    const applied = await this.rest.request<Workspace>('PATCH', objectPath('Workspace', config.metadata.name), {
      body: config,
      contentType: APPLY_PATCH,
      query: {
        fieldManager: CONSOLE_FIELD_MANAGER,
        force: opts.force ? 'true' : undefined,
        dryRun: opts.dryRun ? 'All' : undefined,
      },
    });
    if (!opts.dryRun) await this.seenWorkspace(applied);
    return applied;
  }

  private async seenWorkspace(written: Workspace): Promise<void> {
    if (!this.workspaceWatch.started) return;
    const { name, resourceVersion } = written.metadata;
    await this.seen(() => atLeast(this.informer.get(name)?.metadata.resourceVersion, resourceVersion));
  }

  /** Deletes a Workspace, only the one with this uid (a newer one of the same name is left alone). */
  async remove(name: string, uid: string): Promise<void> {
    await this.rest.request('DELETE', objectPath('Workspace', name), {
      body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid } },
    });
  }

  /**
   * The newest Events about the Workspace (the operator writes them in
   * `default`), newest first; read at most every 3 s for one Workspace, however
   * many pages and live streams show it.
   */
  async eventsOf(name: string, limit = 20): Promise<WorkspaceEvent[]> {
    const cached = this.eventCache.get(name);
    if (cached && Date.now() - cached.at < 3_000) return cached.events;
    const events = await this.readEvents(name, limit);
    if (this.eventCache.size > 5_000) this.eventCache.clear();
    this.eventCache.set(name, { at: Date.now(), events });
    return events;
  }

  private async readEvents(name: string, limit: number): Promise<WorkspaceEvent[]> {
    const list = await this.rest.get<{ items: CoreEvent[] }>('/api/v1/namespaces/default/events', {
      fieldSelector: `involvedObject.kind=Workspace,involvedObject.name=${name}`,
    });
    return list.items
      .map((e) => ({
        type: e.type ?? 'Normal',
        reason: e.reason ?? '',
        message: e.message ?? '',
        at: e.series?.lastObservedTime ?? e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? '',
        count: e.series?.count ?? e.count ?? 1,
      }))
      .sort((a, b) => b.at.localeCompare(a.at))
      .slice(0, limit);
  }

  /** The Workspace's Backups (its backup log), in its namespace. */
  async backupsOf(ws: Workspace): Promise<BackupResource[]> {
    if (await this.watchingBackups()) return [...this.backups.list(namespaceOf(ws))];
    const list = await this.rest.get<{ items: BackupResource[] }>(collectionPath('Backup', namespaceOf(ws)));
    return list.items;
  }

  /** The Workspace's Restores, newest first. */
  async restoresOf(ws: Workspace): Promise<RestoreResource[]> {
    const items = (await this.watchingBackups())
      ? [...this.restores.list(namespaceOf(ws))]
      : (await this.rest.get<{ items: RestoreResource[] }>(collectionPath('Restore', namespaceOf(ws)))).items;
    return items.sort((a, b) => (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''));
  }

  /** What the console's Backups and Restores are labelled with: who made them, and the workspace (as the operator labels its own). */
  private labelsFor(ws: Workspace): Record<string, string> {
    return { [CREATED_BY]: 'holdfast-console', 'holdfast.io/workspace': ws.metadata.name };
  }

  /** A Backup now: the operator runs its Job from the backup CronJob's template. */
  createBackup(ws: Workspace, name: string): Promise<BackupResource> {
    return this.createIn(ws, this.backups, BACKUP_KIND, name, {
      workspace: ws.metadata.name,
      reason: 'OnDemand',
    });
  }

  /** A Restore of one Backup into the Workspace's database. */
  createRestore(ws: Workspace, name: string, backup: string): Promise<RestoreResource> {
    return this.createIn(ws, this.restores, RESTORE_KIND, name, { workspace: ws.metadata.name, backup });
  }

  /** Creates a Backup or Restore in the Workspace's namespace, labelled as the console's, and waits for its watch. */
  private async createIn<T extends KubeObject>(
    ws: Workspace,
    watch: Informer<T>,
    kind: typeof BACKUP_KIND | typeof RESTORE_KIND,
    name: string,
    spec: Record<string, unknown>,
  ): Promise<T> {
    const namespace = namespaceOf(ws);
    const created = await this.rest.request<T>('POST', collectionPath(kind, namespace), {
      body: {
        apiVersion: RESOURCES[kind].apiVersion,
        kind,
        metadata: { name, namespace, labels: this.labelsFor(ws) },
        spec,
      },
      query: { fieldManager: CONSOLE_FIELD_MANAGER },
    });
    if (this.backupsWatch.started) await this.seen(() => watch.get(name, namespace) !== undefined);
    return created;
  }

  /** A BackupDestination's spec, read now; undefined when there is none. */
  async destination(name: string): Promise<DestinationSpec | undefined> {
    return (await this.rest.find<KubeObject & { spec?: DestinationSpec }>(objectPath('BackupDestination', name)))?.spec;
  }

  /** A Secret the chart lets the console read (an S3 destination's credentials); undefined when there is none. */
  secret(namespace: string, name: string): Promise<(KubeObject & { data?: Record<string, string> }) | undefined> {
    return this.rest.find(objectPath('Secret', name, namespace));
  }

  /** Names of what a Workspace may use: StorageClasses, SharedDatabaseServers, BackupDestinations ([] when not readable). */
  async choices(): Promise<Choices> {
    if (this.choiceCache && Date.now() - this.choiceCache.at < 30_000) return this.choiceCache.value;
    const names = async (path: string) =>
      (await this.rest.get<{ items: KubeObject[] }>(path).catch(() => ({ items: [] }))).items
        .map((o) => o.metadata.name)
        .sort();
    const [storageClasses, sharedServers, destinations] = await Promise.all([
      names(collectionPath('StorageClass')),
      names(collectionPath('SharedDatabaseServer')),
      names(collectionPath('BackupDestination')),
    ]);
    this.choiceCache = { at: Date.now(), value: { storageClasses, sharedServers, destinations } };
    return this.choiceCache.value;
  }

  /**
   * A Warning Event in the console's namespace, regarding the console's Pod,
   * with the Workspace as its related object. (The apiserver keeps Events
   * regarding a cluster-scoped Workspace in `default` only, where the console
   * has no business writing.)
   */
  async warn(workspace: string, reason: string, note: string): Promise<void> {
    await this.events.record(
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: this.self.name, namespace: this.self.namespace } },
      'Warning',
      reason,
      'SignIn',
      note,
      { apiVersion: 'holdfast.io/v1alpha1', kind: 'Workspace', metadata: { name: workspace } },
    );
  }
}

export interface Choices {
  storageClasses: string[];
  sharedServers: string[];
  destinations: string[];
}

export type BackupResource = KubeObject & { spec?: Partial<BackupResourceSpec>; status?: BackupResourceStatus };
export type RestoreResource = KubeObject & { spec?: Partial<RestoreSpec>; status?: RestoreStatus };

/**
 * Whether the watch's copy is the written version or a later one. Resource
 * versions are opaque; where they are integers (etcd's revisions) a later
 * write has a larger one, and otherwise only the same version counts.
 */
function atLeast(seen: string | undefined, written: string | undefined): boolean {
  if (seen === undefined || written === undefined) return seen === written;
  if (/^\d+$/.test(seen) && /^\d+$/.test(written)) return BigInt(seen) >= BigInt(written);
  return seen === written;
}

/** The label on what the console created. */
export const CREATED_BY = 'holdfast.io/created-by';

/**
 * A watch started on first use. The first callers wait up to 5 s for its
 * first list; once that wait is over, callers are told at once whether it is
 * there, so a watch the apiserver refuses (no CRD, no RBAC) costs a page
 * nothing but its fallback read.
 */
class LazyWatch {
  private synced = false;
  private first: Promise<boolean> | undefined;
  private waited = false;

  constructor(private readonly start: () => Promise<unknown>) {}

  get started(): boolean {
    return this.first !== undefined;
  }

  ready(): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (this.first) return this.waited ? Promise.resolve(false) : this.first;
    const started = this.start().then(
      () => (this.synced = true),
      () => false,
    );
    const deadline = new Promise<boolean>((r) => setTimeout(() => r(false), 5_000).unref());
    this.first = Promise.race([started, deadline]).finally(() => (this.waited = true));
    return this.first;
  }
}

/** Where a Workspace's objects live: ws-<name>. */
export const namespaceOf = (ws: Workspace): string => ws.status?.namespace ?? `${NAMESPACE_PREFIX}${ws.metadata.name}`;

interface CoreEvent {
  metadata: { creationTimestamp?: string };
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  lastTimestamp?: string;
  eventTime?: string;
  series?: { count?: number; lastObservedTime?: string };
}

export function summarize(ws: Workspace): WorkspaceSummary {
  const ready = ws.status?.conditions?.find((c) => c.type === 'Ready');
  return {
    name: ws.metadata.name,
    phase: ws.status?.phase ?? 'Pending',
    ready: ready?.status === 'True',
    reason: ready?.reason ?? '',
    message: ready?.message ?? '',
    databaseMode: ws.spec.database.mode,
    suspended: ws.spec.suspend,
    ...(ws.status?.recoveryPoint ? { recoveryPoint: ws.status.recoveryPoint } : {}),
    ...(ws.status?.certificate?.notAfter ? { certificateExpiry: ws.status.certificate.notAfter } : {}),
    ...(ws.status?.lastBackupTime ? { lastBackup: ws.status.lastBackupTime } : {}),
    ...(ws.status?.lastVerifiedTime ? { lastVerified: ws.status.lastVerifiedTime } : {}),
  };
}

/** What the tenant page shows of a Workspace's state, and the live stream sends. */
export interface WorkspaceStatusView {
  exists: boolean;
  phase: string;
  ready: boolean;
  suspended: boolean;
  /** False while the operator has not yet acted on the newest spec. */
  current: boolean;
  conditions: { type: string; status: string; reason: string; message: string; since: string }[];
}

export function workspaceStatusView(ws: Workspace | undefined): WorkspaceStatusView {
  if (!ws) return { exists: false, phase: 'Deleted', ready: false, suspended: false, current: true, conditions: [] };
  const conditions = ws.status?.conditions ?? [];
  return {
    exists: true,
    phase: ws.status?.phase ?? 'Pending',
    ready: conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
    suspended: ws.spec.suspend,
    current: (ws.status?.observedGeneration ?? 0) >= (ws.metadata.generation ?? 0),
    conditions: conditions.map((c) => ({
      type: c.type,
      status: c.status,
      reason: c.reason,
      message: c.message,
      since: c.lastTransitionTime,
    })),
  };
}
