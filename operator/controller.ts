// The operator process: leader election, informers, the work queue and the
// Workspace reconciler, plus health and metrics. Standby replicas serve
// /healthz and wait for the Lease.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { NAMESPACE_PREFIX, type Workspace } from './api/workspace.js';
import { Applier } from '../kube/apply.js';
import { EventRecorder } from '../kube/events.js';
import { startHealthServer, type HealthServer } from './runtime/health.js';
import { Informer } from '../kube/informer.js';
import { LeaderElector } from './runtime/leader.js';
import { Metrics } from './runtime/metrics.js';
import { WorkQueue } from './runtime/queue.js';
import { Rest, apiObserver, type KubeObject } from '../kube/rest.js';
import { WORKSPACE_LABEL } from './workspace/owner.js';
import { WorkspaceReconciler } from './workspace/reconcile.js';
import type { BackupDestinationObject, BackupObject, Caches, RestoreObject } from './workspace/deps.js';
import type { StorageClass } from './workspace/volume/desired.js';
import type { SecretObject } from './tls/authority.js';
import { caPermittedSubtrees } from './workspace/certificate/names.js';
import { CA_KEY, CaController } from './tls/controller.js';
import { ERASE_AFTER, eraseDueArchives } from './workspace/archive.js';

/** The work queue's key for erasing archives of deleted workspaces (not a valid Workspace name). */
const ERASE_KEY = '#archives';
import { PROBE_EVERY_MS, ServerPool, serverTarget, type SharedServer } from './workspace/database/shared.js';
import { fromBase64 } from '../kube/secret-data.js';

export interface OperatorOptions {
  kubeconfig: k8s.KubeConfig;
  log: Logger;
  /** Namespace of the leader Lease. */
  namespace: string;
  concurrency: number;
  healthAddress: string;
  identity?: string;
  leaseDurationMs?: number;
  /** Only Workspaces matching this label selector (for sharding and tests). */
  workspaceSelector?: string;
  /** Name of the leader Lease; replicas sharing it elect one leader. */
  leaseName?: string;
  /** Secret (in `namespace`) holding the installation CA. */
  caSecretName?: string;
  caDurationMs?: number;
  /** Domains workspace certificates may name besides their services (see certificate/names.ts). */
  allowedDnsSuffixes?: string[];
  caOverlapMs?: number;
}

export class Operator {
  readonly metrics = new Metrics();
  private readonly elector: LeaderElector;
  private readonly identity: string;
  private queue?: WorkQueue;
  private caches?: Caches;
  private caSecrets?: Informer<SecretObject>;
  private readonly servers = new ServerPool();
  private health?: HealthServer;
  private probing?: NodeJS.Timeout;
  private synced = false;
  private stopping = false;

  constructor(private readonly opts: OperatorOptions) {
    this.identity = opts.identity ?? `${hostname()}-${randomBytes(3).toString('hex')}`;
    this.elector = new LeaderElector(
      opts.kubeconfig,
      {
        namespace: opts.namespace,
        name: opts.leaseName ?? 'holdfast-operator',
        identity: this.identity,
        ...(opts.leaseDurationMs
          ? {
              leaseDurationMs: opts.leaseDurationMs,
              renewDeadlineMs: Math.floor(opts.leaseDurationMs * 0.66),
              retryPeriodMs: Math.max(500, Math.floor(opts.leaseDurationMs / 7)),
            }
          : {}),
      },
      opts.log.child({ part: 'leader' }),
    );
  }

  get healthPort(): number | undefined {
    return this.health?.port;
  }

  async run(): Promise<void> {
    const { log } = this.opts;
    // Ready while standing by too: a standby is healthy, it just is not leading.
    this.health = await startHealthServer(
      this.opts.healthAddress,
      this.metrics,
      () => this.synced || !this.elector.isLeader,
    );
    log.info({ identity: this.identity, health: this.health.port }, 'waiting to lead');
    await this.elector.acquire(
      () => {
        // Another replica may already be acting: stop at once, as client-go does.
        log.fatal('leadership lost; exiting so that the new leader acts alone');
        process.exit(1);
      },
      // While the apiserver is away nothing is started; the caches reconnect by themselves.
      { onStalled: () => this.queue?.pause(), onResumed: () => this.queue?.resume() },
    );
    if (this.stopping) return;
    this.metrics.leader.set(1);
    await this.startControllers();
  }

  private async startControllers(): Promise<void> {
    const { kubeconfig: kc, log } = this.opts;
    apiObserver.request = (method, resource) => this.metrics.apiRequests.inc({ method, resource });
    apiObserver.watch = (resource) => this.metrics.watches.inc({ resource });
    const rest = new Rest(kc);
    const owned = { labelSelector: WORKSPACE_LABEL };
    const il = log.child({ part: 'informer' });
    const caches: Caches = {
      workspaces: new Informer<Workspace & KubeObject>(
        kc,
        { kind: 'Workspace', ...(this.opts.workspaceSelector ? { labelSelector: this.opts.workspaceSelector } : {}) },
        il,
      ),
      namespaces: new Informer(kc, { kind: 'Namespace', ...owned }, il),
      networkPolicies: new Informer(kc, { kind: 'NetworkPolicy', ...owned }, il),
      resourceQuotas: new Informer(kc, { kind: 'ResourceQuota', ...owned }, il),
      limitRanges: new Informer(kc, { kind: 'LimitRange', ...owned }, il),
      claims: new Informer(kc, { kind: 'PersistentVolumeClaim', ...owned }, il),
      storageClasses: new Informer<StorageClass>(kc, { kind: 'StorageClass' }, il),
      tlsSecrets: new Informer<SecretObject>(kc, { kind: 'Secret', labelSelector: 'holdfast.io/component=tls' }, il),
      appSecrets: new Informer<SecretObject>(
        kc,
        { kind: 'Secret', labelSelector: 'holdfast.io/component=database-credentials' },
        il,
      ),
      sharedServers: new Informer<SharedServer>(kc, { kind: 'SharedDatabaseServer' }, il),
      statefulSets: new Informer(kc, { kind: 'StatefulSet', ...owned }, il),
      services: new Informer(kc, { kind: 'Service', ...owned }, il),
      configMaps: new Informer(kc, { kind: 'ConfigMap', ...owned }, il),
      // Every Backup: one a person creates to ask for a backup carries no label yet.
      backups: new Informer<BackupObject>(kc, { kind: 'Backup' }, il),
      restores: new Informer<RestoreObject>(kc, { kind: 'Restore' }, il),
      jobs: new Informer(kc, { kind: 'Job', ...owned }, il),
      backupDestinations: new Informer<BackupDestinationObject>(kc, { kind: 'BackupDestination' }, il),
    };
    const caSecretName = this.opts.caSecretName ?? 'holdfast-ca';
    const caSecrets = new Informer<SecretObject>(kc, { kind: 'Secret', namespace: this.opts.namespace }, il);
    this.caches = caches;
    this.caSecrets = caSecrets;
    const applier = new Applier(rest, this.metrics.apiWrites);
    const events = new EventRecorder(kc, this.identity, this.metrics.apiWrites, log);
    const ca = new CaController({
      rest,
      applier,
      secrets: caSecrets,
      // Bundles of the certificates this operator issues: its own workspaces
      // (others may belong to another shard), not suspended (they take the
      // new bundle on resume), internal issuer (cert-manager's are its own).
      workspaceBundles: () =>
        caches.tlsSecrets
          .list()
          .filter((s) => {
            const ws = caches.workspaces.get(s.metadata.labels?.[WORKSPACE_LABEL] ?? '');
            return (
              ws !== undefined &&
              !ws.spec.suspend &&
              !ws.metadata.deletionTimestamp &&
              s.metadata.annotations?.['holdfast.io/signer-serial'] !== undefined
            );
          })
          .map((s) => fromBase64(s.data?.['ca.crt'])),
      events,
      log: log.child({ part: 'ca' }),
      secretName: caSecretName,
      namespace: this.opts.namespace,
      policy: {
        durationMs: this.opts.caDurationMs ?? 5 * 365 * 24 * 3600e3,
        overlapMs: this.opts.caOverlapMs ?? 24 * 3600e3,
        permittedDns: caPermittedSubtrees(this.opts.allowedDnsSuffixes ?? []),
      },
    });
    const reconciler = new WorkspaceReconciler({
      rest,
      applier,
      caches,
      events,
      metrics: this.metrics,
      log,
      authority: () => ca.authority(),
      allowedDnsSuffixes: this.opts.allowedDnsSuffixes ?? [],
      servers: this.servers,
      operatorSecrets: caSecrets,
    });
    const queue = new WorkQueue({
      concurrency: this.opts.concurrency,
      handler: async (key) => {
        const controller = key === CA_KEY ? 'ca' : key === ERASE_KEY ? 'archive' : 'workspace';
        const end = this.metrics.reconcileSeconds.startTimer({ controller });
        try {
          const outcome =
            key === CA_KEY
              ? await ca.reconcile()
              : key === ERASE_KEY
                ? await eraseDueArchives({
                    rest,
                    caches,
                    events,
                    log: log.child({ part: 'archive' }),
                    now: () => new Date(),
                  })
                : await reconciler.reconcile(key);
          this.metrics.reconciles.inc({ controller, result: 'success' });
          return outcome;
        } finally {
          end();
        }
      },
      onError: (key, err, retryInMs) => {
        this.metrics.reconciles.inc({ controller: 'workspace', result: 'error' });
        this.metrics.reconcileErrors.inc({ controller: 'workspace' });
        log.warn(
          { workspace: key, err: err instanceof Error ? err.message : String(err), retryInMs },
          'reconcile failed; retrying',
        );
      },
      onDepth: (depth) => this.metrics.queueDepth.set({ controller: 'workspace' }, depth),
    });
    this.queue = queue;

    // Keys, never payloads: the worker reads the current object from the cache.
    // A person's edit (or deletion) of a workspace that was reconciled before
    // goes ahead of the workspaces still being created; so does one a
    // previous leader had not finished when this replica takes over.
    caches.workspaces.onChange((ws) =>
      queue.add(
        ws.metadata.name,
        ws.status?.observedGeneration !== undefined &&
          (ws.metadata.generation !== ws.status.observedGeneration || ws.metadata.deletionTimestamp !== undefined),
      ),
    );
    for (const cache of [
      caches.namespaces,
      caches.networkPolicies,
      caches.resourceQuotas,
      caches.limitRanges,
      caches.claims,
      caches.tlsSecrets,
      caches.appSecrets,
      caches.statefulSets,
      caches.services,
      caches.configMaps,
      caches.jobs,
    ]) {
      cache.onChange((obj) => {
        const owner = obj.metadata.labels?.[WORKSPACE_LABEL];
        if (owner && caches.workspaces.get(owner)) queue.add(owner);
      });
    }
    // A Backup or Restore belongs to the workspace of its namespace, whatever it says.
    const ofNamespace = (o: { metadata: { namespace?: string } }) => {
      const ns = o.metadata.namespace ?? '';
      const owner = ns.startsWith(NAMESPACE_PREFIX) ? ns.slice(NAMESPACE_PREFIX.length) : '';
      if (owner && caches.workspaces.get(owner)) queue.add(owner);
    };
    caches.backups.onChange(ofNamespace);
    caches.restores.onChange(ofNamespace);
    const everyWorkspace = () => {
      for (const ws of caches.workspaces.list()) queue.add(ws.metadata.name);
    };
    caches.storageClasses.onChange(everyWorkspace);
    caches.backupDestinations.onChange((dest) => {
      for (const ws of caches.workspaces.list())
        if (ws.spec.backup.destinations?.some((d) => d.name === dest.metadata.name)) queue.add(ws.metadata.name);
    });
    caches.sharedServers.onChange((server) => {
      for (const ws of caches.workspaces.list())
        if (ws.spec.database?.serverRef === server.metadata.name) queue.add(ws.metadata.name);
    });
    // A CA change reaches every bundle; a bundle change may complete a rotation step.
    // Another Secret there concerns the workspaces of a server that refers to it, if any.
    caSecrets.onChange((secret) => {
      if (secret.metadata.name === caSecretName) {
        queue.add(CA_KEY);
        everyWorkspace();
        return;
      }
      const refers = (server: SharedServer) =>
        [server.spec.adminSecretRef, server.spec.caSecretRef].some(
          (ref) => ref.name === secret.metadata.name && ref.namespace === secret.metadata.namespace,
        );
      const servers = new Set(
        caches.sharedServers
          .list()
          .filter(refers)
          .map((s) => s.metadata.name),
      );
      if (servers.size === 0) return;
      for (const ws of caches.workspaces.list())
        if (servers.has(ws.spec.database?.serverRef ?? '')) queue.add(ws.metadata.name);
    });
    caches.tlsSecrets.onChange(() => queue.add(CA_KEY));
    // Archives of deleted workspaces: looked at when a namespace changes, and when the next is due.
    caches.namespaces.onChange((ns) => {
      if (ns.metadata.annotations?.[ERASE_AFTER]) queue.add(ERASE_KEY);
    });
    caches.workspaces.onChange(() => this.countPhases());
    // Servers cannot be watched: those in use are asked SELECT 1 now and then,
    // and their workspaces looked at again when one stops or starts answering.
    const onServer = (name: string) => caches.workspaces.list().filter((ws) => ws.spec.database?.serverRef === name);
    this.servers.onHealthChange = (name) => {
      const health = this.servers.healthOf(name);
      log.warn(
        { server: name, ...health },
        health?.reachable ? 'shared server answers again' : 'shared server does not answer',
      );
      for (const ws of onServer(name)) queue.add(ws.metadata.name);
    };
    this.probing = setInterval(() => {
      const inUse = new Set(caches.workspaces.list().map((ws) => ws.spec.database?.serverRef));
      for (const name of caches.sharedServers.list().map((s) => s.metadata.name)) {
        if (!inUse.has(name)) continue;
        void serverTarget(reconciler.serverLookups(), name).then(
          ({ target }) => target && this.servers.probe(name, target),
          (err: unknown) => log.warn({ server: name, err: String(err) }, 'could not look up shared server'),
        );
      }
    }, PROBE_EVERY_MS);
    this.probing.unref();

    const started = Date.now();
    // Owned objects first, so that the first reconciles see them.
    await Promise.all(
      Object.values(caches)
        .filter((c) => c !== caches.workspaces)
        .map((c) => (c as Informer<KubeObject>).start()),
    );
    await caSecrets.start();
    await caches.workspaces.start();
    queue.add(CA_KEY);
    queue.add(ERASE_KEY);
    this.synced = true;
    log.info({ workspaces: caches.workspaces.list().length, ms: Date.now() - started }, 'caches synced; reconciling');
  }

  private countPhases(): void {
    const counts = new Map<string, number>();
    for (const ws of this.caches?.workspaces.list() ?? []) {
      const phase = ws.status?.phase ?? 'Pending';
      counts.set(phase, (counts.get(phase) ?? 0) + 1);
    }
    this.metrics.workspaces.reset();
    for (const [phase, n] of counts) this.metrics.workspaces.set({ phase }, n);
  }

  /** Finishes in-flight reconciles, stops watching, and releases the Lease. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    this.opts.log.info('shutting down: finishing in-flight reconciles');
    clearInterval(this.probing);
    await this.queue?.shutdown();
    const informers: Informer<KubeObject>[] = [
      ...(Object.values(this.caches ?? {}) as Informer<KubeObject>[]),
      ...(this.caSecrets ? [this.caSecrets] : []),
    ];
    await Promise.all(informers.map((c) => c.stop()));
    await this.servers.close();
    await this.elector.release();
    this.metrics.leader.set(0);
    await this.health?.close();
  }
}
