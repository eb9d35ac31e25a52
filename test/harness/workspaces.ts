// Workspace helpers for integration tests, in wire format through the same
// small REST client the operator uses.
import type { Condition, Workspace } from '../../operator/api/workspace.js';
import { API_VERSION } from '../../operator/api/workspace.js';
import { Rest, collectionPath, isNotFound, objectPath, type Kind, type KubeObject } from '../../kube/rest.js';
import { LOCAL_PROVISIONER } from '../../hack/local-volumes.js';
import { adminConfig, eventually } from './kube.js';
import { uniqueName } from './names.js';
import { CHART_NAMESPACE } from './chart-accounts.js';
import type { TestPostgres } from './postgres.js';
import { sharedServerObjects } from './shared-server.js';

export { sharedServerObjects };

export const TEST_LABEL = 'holdfast.io/test';
// The node schedules by requests: 2 cores hold the run's ~60 database pods only at 10m each.
export const TEST_DATABASE_RESOURCES = { cpu: '10m', memory: '256Mi' };
const MERGE = 'application/merge-patch+json';

export type WireWorkspace = Workspace & KubeObject;

export class Workspaces {
  readonly rest = new Rest(adminConfig());
  /** Label value that the operator under test selects on. */
  readonly run = uniqueName('run');
  get selector(): string {
    return `${TEST_LABEL}=${this.run}`;
  }

  /**
   * Small database requests unless the test sets its own: every Dedicated
   * database is a real PostgreSQL pod on the run's one 2-core node, and tests
   * that make a dozen workspaces at once must all be scheduled.
   */
  async create(prefix: string, spec: Record<string, unknown> = {}): Promise<string> {
    return this.createNamed(uniqueName(prefix), spec);
  }

  /** Creates a Workspace with exactly this name (for names chosen ahead, or used again). */
  async createNamed(
    name: string,
    spec: Record<string, unknown> = {},
    annotations: Record<string, string> = {},
  ): Promise<string> {
    const database = (spec.database ?? {}) as Record<string, unknown>;
    spec = { ...spec, database: { resources: TEST_DATABASE_RESOURCES, ...database } };
    await this.rest.request('POST', collectionPath('Workspace'), {
      body: {
        apiVersion: API_VERSION,
        kind: 'Workspace',
        metadata: { name, labels: { [TEST_LABEL]: this.run }, annotations },
        spec,
      },
    });
    return name;
  }

  get(name: string): Promise<WireWorkspace> {
    return this.rest.get<WireWorkspace>(objectPath('Workspace', name));
  }

  find(name: string): Promise<WireWorkspace | undefined> {
    return this.rest.find<WireWorkspace>(objectPath('Workspace', name));
  }

  /** JSON merge patch of spec (null removes a field). */
  async patchSpec(name: string, spec: Record<string, unknown>): Promise<void> {
    await this.rest.request('PATCH', objectPath('Workspace', name), { body: { spec }, contentType: MERGE });
  }

  async delete(name: string): Promise<void> {
    await this.rest.request('DELETE', objectPath('Workspace', name)).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }

  condition(ws: WireWorkspace, type: string): Condition | undefined {
    return ws.status?.conditions?.find((c) => c.type === type);
  }

  /**
   * Waits until `type` has `status` (and the status is for the current generation).
   * Ready includes a real PostgreSQL pod starting (volume, initdb, probe): on a
   * busy 2-core machine that takes up to a minute.
   */
  async waitForCondition(
    name: string,
    type: string,
    status: 'True' | 'False' | 'Unknown',
    timeoutMs = 90_000,
  ): Promise<WireWorkspace> {
    return eventually(
      `${name}: ${type}=${status}`,
      async () => {
        const ws = await this.get(name);
        const c = this.condition(ws, type);
        if (c?.status === status && ws.status?.observedGeneration === ws.metadata.generation) return ws;
        // Said on a timeout: what the workspace showed last.
        throw new Error(
          c
            ? `last seen ${type}=${c.status} ${c.reason}: ${c.message}`
            : `no ${type} condition yet (${ws.status?.phase ?? 'no status'})`,
        );
      },
      timeoutMs,
    );
  }

  /**
   * A Backup as a backup job records it (created with the taken-by
   * annotation, so the operator starts no Job), then its status.
   */
  async recordBackup(workspace: string, name: string, status: Record<string, unknown>): Promise<void> {
    const namespace = `ws-${workspace}`;
    await this.rest.request('POST', collectionPath('Backup', namespace), {
      body: {
        apiVersion: API_VERSION,
        kind: 'Backup',
        metadata: { name, namespace, annotations: { 'holdfast.io/taken-by': 'test' } },
        spec: { workspace, reason: 'Scheduled' },
      },
    });
    await this.rest.request('PATCH', `${objectPath('Backup', name, namespace)}/status`, {
      body: { status },
      contentType: MERGE,
    });
  }

  async waitGone(name: string, timeoutMs = 60_000): Promise<void> {
    await eventually(`${name} to be deleted`, async () => ((await this.find(name)) ? undefined : true), timeoutMs);
  }

  object(kind: Kind, name: string, namespace?: string): Promise<KubeObject | undefined> {
    return this.rest.find<KubeObject>(objectPath(kind, name, namespace));
  }

  async list(kind: Kind, namespace: string): Promise<KubeObject[]> {
    return (await this.rest.get<{ items: KubeObject[] }>(collectionPath(kind, namespace))).items;
  }

  /**
   * A SharedDatabaseServer on the harness PostgreSQL `pg`, its admin and CA
   * Secrets in the operator's namespace (where the operator watches them).
   */
  async sharedServer(pg: TestPostgres, prefix = 'pg'): Promise<string> {
    const server = uniqueName(prefix);
    for (const obj of sharedServerObjects(pg, server, CHART_NAMESPACE))
      await this.rest.request('POST', collectionPath(obj.kind as Kind, obj.metadata.namespace), { body: obj });
    return server;
  }

  async events(name: string): Promise<{ type: string; reason: string; note: string }[]> {
    const list = await this.rest.get<{
      items: { type: string; reason: string; note?: string; regarding?: { name?: string; kind?: string } }[];
    }>('/apis/events.k8s.io/v1/namespaces/default/events');
    return list.items
      .filter((e) => e.regarding?.kind === 'Workspace' && e.regarding.name === name)
      .map((e) => ({ type: e.type, reason: e.reason, note: e.note ?? '' }));
  }

  /**
   * A StorageClass for this run; never the default, so runs do not collide.
   * Its volumes are real folders from the node's provisioner, unless another
   * provisioner is named (kubernetes.io/no-provisioner: only PersistentVolumes
   * made by hand).
   */
  async storageClass(opts: { encrypted: boolean; immediate?: boolean; provisioner?: string }): Promise<string> {
    const name = uniqueName(opts.encrypted ? 'enc' : 'plain');
    await this.rest.request('POST', collectionPath('StorageClass'), {
      body: {
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name, ...(opts.encrypted ? { annotations: { 'holdfast.io/encrypted': 'true' } } : {}) },
        provisioner: opts.provisioner ?? LOCAL_PROVISIONER,
        volumeBindingMode: opts.immediate ? 'Immediate' : 'WaitForFirstConsumer',
      },
    });
    return name;
  }
}
