// The console's read of Workspace status from the Kubernetes API. The
// Workspace is the source of truth; the console only shows it.
import { hostname } from 'node:os';
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Workspace } from '../operator/api/workspace.js';
import { EventRecorder } from '../kube/events.js';
import { Rest, collectionPath } from '../kube/rest.js';

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
  lastBackup?: string;
  lastVerified?: string;
}

export class WorkspaceStatuses {
  private cached: { at: number; items: Map<string, WorkspaceSummary> } | undefined;
  private readonly events: EventRecorder;
  private readonly rest: Rest;

  constructor(
    kc: k8s.KubeConfig,
    private readonly log: Logger,
    /** The console's Pod (HOLDFAST_NAMESPACE, the Pod's host name), which its Events regard. */
    private readonly self: ConsolePod = { namespace: DEFAULT_CONSOLE_NAMESPACE, name: hostname() },
  ) {
    this.rest = new Rest(kc);
    this.events = new EventRecorder(kc, 'holdfast-console', undefined, log, 'holdfast.io/console');
  }

  static fromEnvironment(log: Logger): WorkspaceStatuses | undefined {
    try {
      const kc = new k8s.KubeConfig();
      kc.loadFromDefault();
      if (!kc.getCurrentCluster()) return undefined;
      return new WorkspaceStatuses(kc, log, {
        namespace: process.env.HOLDFAST_NAMESPACE || DEFAULT_CONSOLE_NAMESPACE,
        name: process.env.HOLDFAST_POD_NAME || hostname(),
      });
    } catch {
      return undefined;
    }
  }

  /** All Workspaces by name, at most 5 s old; undefined when the cluster cannot be reached. */
  async all(): Promise<Map<string, WorkspaceSummary> | undefined> {
    if (this.cached && Date.now() - this.cached.at < 5_000) return this.cached.items;
    try {
      const list = await this.rest.get<{ items: Workspace[] }>(collectionPath('Workspace'));
      const items = new Map(list.items.map((ws) => [ws.metadata.name, summarize(ws)]));
      this.cached = { at: Date.now(), items };
      return items;
    } catch (err) {
      this.log.warn({ err: String(err) }, 'could not list Workspaces');
      return undefined;
    }
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

function summarize(ws: Workspace): WorkspaceSummary {
  const ready = ws.status?.conditions?.find((c) => c.type === 'Ready');
  return {
    name: ws.metadata.name,
    phase: ws.status?.phase ?? 'Pending',
    ready: ready?.status === 'True',
    reason: ready?.reason ?? '',
    message: ready?.message ?? '',
    databaseMode: ws.spec.database.mode,
    ...(ws.status?.lastBackupTime ? { lastBackup: ws.status.lastBackupTime } : {}),
    ...(ws.status?.lastVerifiedTime ? { lastVerified: ws.status.lastVerifiedTime } : {}),
  };
}
