// Reconciles one Workspace: runs each concern in a fixed order (namespace,
// network, quota, volume), derives Ready in one place, and writes status only
// when it changed. Reads come from informer caches; writes are server-side
// applies that are skipped when the cache already matches.
import { WorkspaceSpec, namespaceOf, type Workspace, type WorkspaceStatus } from '../api/workspace.js';
import { NotOwnedError } from '../../kube/apply.js';
import type { Outcome } from '../runtime/queue.js';
import { objectPath, type KubeObject } from '../../kube/rest.js';
import { DEFAULT_IMAGE } from '../backup/schedule.js';
import { applyBackupSchedule, type ScheduleDecision } from './backup-schedule.js';
import { recordBackupStatus } from './backup-status.js';
import { handleBackupRequests } from './backup-requests.js';
import { handleRestores } from './restore-requests.js';
import { findCondition, type ConditionInput } from './conditions.js';
import { finalizeInvalid, finalizeWorkspace, FINALIZER, ensureFinalizer } from './deletion.js';
import { desiredNamespace } from './namespace/desired.js';
import { desiredNetworkPolicies } from './network/desired.js';
import { networkPeers } from './network/peers.js';
import { WORKSPACE_LABEL } from './owner.js';
import { ownedBy, ownershipProblem } from './ownership.js';
import { desiredLimitRange, desiredResourceQuota } from './quota/desired.js';
import { DATA_CLAIM } from './volume/desired.js';
import { decideVolume } from './volume/check.js';
import {
  CERT_MANAGER_MISSING,
  certManagerCondition,
  desiredCertManagerCertificate,
} from './certificate/certmanager.js';
import { TLS_SECRET, decideInternalCertificate, type CertificateDecision } from './certificate/internal.js';
import { ApiError } from '../../kube/rest.js';
import {
  DATABASE_NAME,
  SUPERUSER_SECRET,
  dedicatedCondition,
  dedicatedIdentity,
  desiredDatabaseObjects,
  desiredSuperuserSecret,
} from './database/dedicated.js';
import {
  CLUSTER_NAME,
  CNPG_MISSING,
  archivingCondition,
  cnpgCondition,
  cnpgHost,
  desiredCluster,
  desiredScheduledBackup,
  lastArchivedTime,
  walArchiveOf,
} from './database/cloudnative-pg.js';
import { generatePassword } from '../database/shared.js';
import { DATABASE_PORT } from './network/desired.js';
import { chooseStorageClass } from './volume/desired.js';
import {
  APP_SECRET,
  createRestoreDatabase,
  desiredAppSecret,
  reconcileShared,
  type DatabaseDecision,
  type SharedDeps,
} from './database/shared.js';
import { fromBase64 } from '../../kube/secret-data.js';
import type { Informer } from '../../kube/informer.js';
import type { Deps } from './deps.js';
import type { SecretObject } from '../tls/authority.js';
import { NEEDS_ACTION, writeWorkspaceStatus } from './status.js';

export class WorkspaceReconciler {
  constructor(private readonly d: Deps) {}

  async reconcile(name: string): Promise<Outcome> {
    const cached = this.d.caches.workspaces.get(name);
    if (!cached) return;
    const parsed = WorkspaceSpec.safeParse(cached.spec ?? {});
    if (!parsed.success) {
      // The CRD rules refuse such specs; this only happens with an older CRD.
      const message = parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; ');
      if (cached.metadata.deletionTimestamp)
        return cached.metadata.finalizers?.includes(FINALIZER) ? finalizeInvalid(cached, this.d, message) : undefined;
      await this.writeStatus(cached, { ...cached.status, phase: 'Degraded' }, [
        { type: 'Ready', status: 'False', reason: 'InvalidSpec', message },
      ]);
      return;
    }
    const ws: Workspace = { ...cached, spec: parsed.data };

    if (ws.metadata.deletionTimestamp) {
      if (!ws.metadata.finalizers?.includes(FINALIZER)) return;
      return finalizeWorkspace(
        ws,
        this.d,
        (status, conditions) => this.writeStatus(ws, status, conditions),
        this.sharedDeps(ws),
      );
    }
    await ensureFinalizer(ws, this.d);

    if (ws.spec.suspend) {
      if (ws.status?.phase !== 'Suspended') {
        await this.d.events.record(
          ws,
          'Normal',
          'Suspended',
          'Suspend',
          'spec.suspend is true: no changes are made until it is false',
        );
      }
      await this.writeStatus(ws, { ...ws.status, phase: 'Suspended' }, []);
      return;
    }

    let volume: ReturnType<typeof decideVolume>;
    let claim: KubeObject | undefined;
    let certificate: CertificateDecision;
    let database: DatabaseDecision | undefined;
    try {
      ({ volume, claim } = await this.applyObjects(ws));
      certificate = await this.applyCertificate(ws);
      // Storage that breaks the encryption policy gets no database either:
      // the built-in and CloudNativePG servers would store on that class.
      database = volume.desired
        ? await this.applyDatabase(ws)
        : {
            conditions: [
              {
                type: 'DatabaseReady',
                status: 'False',
                reason: 'WaitingForVolume',
                message: 'no database is created until the volume meets spec.volume.encryption',
              },
            ],
            events: [],
          };
    } catch (err) {
      // Someone else's object is in the way: say so, touch nothing, look again later.
      if (err instanceof NotOwnedError) {
        await this.writeStatus(ws, { ...ws.status, phase: 'Degraded' }, [
          { type: 'Ready', status: 'False', reason: 'NotOwned', message: err.message },
        ]);
        return { requeueAfterMs: 60_000 };
      }
      // Said in status and an Event, then retried with backoff by the queue.
      const message = `could not apply the workspace's objects: ${err instanceof Error ? err.message : String(err)}`;
      await this.writeStatus(ws, { ...ws.status, phase: 'Degraded' }, [
        { type: 'Ready', status: 'False', reason: 'ApplyFailed', message },
      ]);
      throw err;
    }
    const ns = namespaceOf(name);

    // Ready is derived here, and only here, from the conditions the concerns own.
    const volumeReady = volume.conditions.find((c) => c.type === 'VolumeReady')!;
    const certReady = certificate.conditions.find((c) => c.type === 'CertificateReady')!;
    const dbReady = database?.conditions.find((c) => c.type === 'DatabaseReady');
    const blocking = [volumeReady, certReady, ...(dbReady ? [dbReady] : [])].find((c) => c.status !== 'True');
    const ready: ConditionInput = blocking
      ? { type: 'Ready', status: 'False', reason: blocking.reason, message: blocking.message }
      : {
          type: 'Ready',
          status: 'True',
          reason: 'Provisioned',
          message: `namespace ${ns} is isolated (restricted pods, default-deny network, quota); its volume, certificate${dbReady ? ' and database' : ''} are ready`,
        };
    // Degraded when someone must change something; Provisioning while it only takes time.
    const phase: WorkspaceStatus['phase'] =
      ready.status === 'True'
        ? 'Ready'
        : volume.desired && ![certReady, dbReady].some((c) => c?.status === 'False' && NEEDS_ACTION.has(c.reason))
          ? 'Provisioning'
          : 'Degraded';

    const status: WorkspaceStatus = {
      ...ws.status,
      phase,
      namespace: ns,
      volume: {
        claimName: DATA_CLAIM,
        ...(volume.storageClassName ? { storageClassName: volume.storageClassName } : {}),
        encrypted: volume.encrypted,
        ...((claim?.status as { phase?: string } | undefined)?.phase
          ? { phase: (claim!.status as { phase: string }).phase }
          : {}),
      },
      ...(certificate.status ? { certificate: certificate.status } : {}),
      ...(database?.status ? { database: database.status } : {}),
    };
    // The schedule, once the database is there to back up; then what the jobs recorded.
    const scheduled = await applyBackupSchedule(ws, database?.status, {
      rest: this.d.rest,
      image: process.env.HOLDFAST_IMAGE ?? DEFAULT_IMAGE,
      destination: (n) => this.d.caches.backupDestinations.get(n),
      apply: (desired, current) => this.apply(ws, desired, current),
    }).catch((err: unknown): ScheduleDecision => ({
      condition: {
        type: 'BackupScheduled',
        status: 'False',
        reason: err instanceof NotOwnedError ? 'NotOwned' : 'ApplyFailed',
        message: (err as Error).message,
      },
    }));
    const inNamespace = this.d.caches.backups.list().filter((b) => b.metadata.namespace === ns);
    const now = (this.d.now ?? (() => new Date()))();
    // Backups asked for, Backups whose Job ended without them, Backups to report.
    await handleBackupRequests(ws, {
      rest: this.d.rest,
      events: this.d.events,
      metrics: this.d.metrics,
      backups: inNamespace,
      job: (n) => this.d.caches.jobs.get(n, ns),
      cronJob: scheduled.cronJob,
      notScheduled: `waiting: no backup can run yet (${scheduled.condition.reason}: ${scheduled.condition.message})`,
      now,
    });
    const restoresRequeue = await handleRestores(ws, {
      rest: this.d.rest,
      events: this.d.events,
      metrics: this.d.metrics,
      restores: this.d.caches.restores.list().filter((r) => r.metadata.namespace === ns),
      backups: inNamespace.filter((b) => b.spec?.workspace === name),
      job: (n) => this.d.caches.jobs.get(n, ns),
      verifyCronJob: scheduled.verifyCronJob,
      notScheduled: `waiting: no backup can run yet (${scheduled.condition.reason}: ${scheduled.condition.message})`,
      ...(ws.spec.database.mode === 'Shared'
        ? { createSharedDatabase: (db: string) => createRestoreDatabase(ws, db, this.sharedDeps(ws)) }
        : {}),
      ...(status.volume?.storageClassName ? { storageClass: status.volume.storageClassName } : {}),
      destination: (n) => this.d.caches.backupDestinations.get(n),
      now,
    });
    // What the jobs recorded: Backup resources, and the export CronJob's Jobs.
    const recorded = recordBackupStatus({
      ws,
      status,
      ...(database?.walArchivedAt ? { walArchivedAt: database.walArchivedAt } : {}),
      backups: inNamespace.filter((b) => b.spec?.workspace === name),
      jobs: this.d.caches.jobs.list().filter((j) => j.metadata.namespace === ns),
      scheduled: scheduled.cronJob !== undefined,
      now,
      metrics: this.d.metrics,
    });
    const transitions = await this.writeStatus(ws, status, [
      scheduled.condition,
      ...recorded,
      ...volume.conditions,
      ...certificate.conditions,
      ...(database?.conditions ?? []),
      ready,
    ]);
    // What first provisioning did is in the conditions, and its Ready Event says it is done.
    const provisioning = findCondition(ws.status?.conditions, 'Ready')?.status !== 'True';
    for (const e of database?.events ?? [])
      if (!(provisioning && e.reason === 'DatabaseCreated'))
        await this.d.events.record(ws, e.type, e.reason, 'ProvisionDatabase', e.message);
    if (volume.warning && transitions.includes('VolumeEncrypted')) {
      await this.d.events.record(ws, 'Warning', volume.warning.reason, 'CheckVolume', volume.warning.message);
    }
    if (certificate.issued && !provisioning)
      await this.d.events.record(ws, 'Normal', 'CertificateIssued', 'IssueCertificate', certificate.issued);
    const requeues = [certificate.requeueAfterMs, database?.requeueAfterMs, restoresRequeue].filter(
      (n): n is number => n !== undefined,
    );
    return requeues.length ? { requeueAfterMs: Math.min(...requeues) } : undefined;
  }

  /** The database: Shared on a SharedDatabaseServer, a built-in StatefulSet, or a CloudNativePG cluster. */
  private async applyDatabase(ws: Workspace): Promise<DatabaseDecision | undefined> {
    const ns = namespaceOf(ws.metadata.name);
    const existing = this.d.applier.fresher(
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: APP_SECRET, namespace: ns } },
      this.d.caches.appSecrets.get(APP_SECRET, ns),
    );
    if (ws.spec.database.mode === 'Shared') return reconcileShared(ws, existing, this.sharedDeps(ws));

    const tls = this.d.applier.fresher(
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: TLS_SECRET, namespace: ns } },
      this.d.caches.tlsSecrets.get(TLS_SECRET, ns),
    );
    const cnpg = ws.spec.database.provider === 'cloudnative-pg';
    const password = fromBase64(existing?.data?.password) || generatePassword();
    await this.apply(
      ws,
      desiredAppSecret(ws, {
        host: cnpg ? cnpgHost(ws) : dedicatedIdentity(ws).host,
        port: DATABASE_PORT,
        dbname: 'app',
        user: 'app',
        password,
        ca: fromBase64(tls?.data?.['ca.crt']),
      }),
      existing,
    );
    if (!cnpg) return this.applyDedicated(ws);
    const cluster = await this.d.rest.find<KubeObject>(objectPath('Cluster', CLUSTER_NAME, ns));
    const storageClass = chooseStorageClass(ws, this.d.caches.storageClasses.list()).storageClass?.metadata.name;
    const archive = walArchiveOf(ws, (n) => this.d.caches.backupDestinations.get(n));
    try {
      // An archive asked for but not resolvable now (its BackupDestination
      // being replaced, say) leaves the Cluster as it is: applying it without
      // its object store would stop archiving and leave a gap in the WAL.
      if (archive.archive || !ws.spec.backup.pointInTime || !cluster)
        await this.apply(ws, desiredCluster(ws, storageClass, archive.archive), cluster);
      const scheduled = desiredScheduledBackup(ws);
      const current = await this.d.rest.find<KubeObject>(objectPath('ScheduledBackup', scheduled.metadata.name, ns));
      if (archive.archive) await this.apply(ws, scheduled, current);
      else if (!ws.spec.backup.pointInTime && current && ownedBy(current, ws.metadata.uid))
        // Archiving turned off: no more base backups (those taken stay until CloudNativePG's retention).
        await this.d.rest.request('DELETE', objectPath('ScheduledBackup', scheduled.metadata.name, ns));
    } catch (err) {
      if (err instanceof ApiError && err.code === 404)
        return { conditions: [CNPG_MISSING], requeueAfterMs: 60_000, events: [] };
      throw err;
    }
    const condition = cnpgCondition(cluster);
    const pointInTime = archive.condition ?? (archive.archive ? archivingCondition(cluster) : undefined);
    // The archive counts as the recovery point only while it works and a base backup makes it usable.
    const recoverable =
      pointInTime?.status === 'True' &&
      (cluster?.status as { firstRecoverabilityPoint?: string } | undefined)?.firstRecoverabilityPoint !== undefined;
    const walArchivedAt = recoverable ? await lastArchivedTime(this.d.rest, ns) : undefined;
    return {
      conditions: [condition, ...(pointInTime ? [pointInTime] : [])],
      ...(walArchivedAt ? { walArchivedAt } : {}),
      status: {
        mode: 'Dedicated',
        provider: 'cloudnative-pg',
        host: cnpgHost(ws),
        port: DATABASE_PORT,
        name: 'app',
        user: 'app',
        secretName: APP_SECRET,
        version: ws.spec.database.version,
      },
      events: [],
      // Not ready yet; or archiving, whose progress is the recovery point.
      ...(condition.status !== 'True' ? { requeueAfterMs: 15_000 } : archive.archive ? { requeueAfterMs: 60_000 } : {}),
    };
  }

  private async applyDedicated(ws: Workspace): Promise<DatabaseDecision> {
    const ns = namespaceOf(ws.metadata.name);
    const { caches } = this.d;
    const superuser = this.d.applier.fresher(
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: SUPERUSER_SECRET, namespace: ns } },
      caches.appSecrets.get(SUPERUSER_SECRET, ns),
    );
    const password = fromBase64(superuser?.data?.password) || generatePassword();
    await this.apply(ws, desiredSuperuserSecret(ws, password), superuser);
    const cacheOf: Record<string, Informer<KubeObject>> = {
      StatefulSet: caches.statefulSets,
      Service: caches.services,
      ConfigMap: caches.configMaps,
    };
    for (const obj of desiredDatabaseObjects(ws))
      await this.apply(ws, obj, cacheOf[obj.kind]?.get(obj.metadata.name, ns));
    const condition = dedicatedCondition(caches.statefulSets.get(DATABASE_NAME, ns));
    const { host, dbname, user } = dedicatedIdentity(ws);
    return {
      conditions: [condition],
      status: {
        mode: 'Dedicated',
        provider: 'builtin',
        host,
        port: DATABASE_PORT,
        name: dbname,
        user,
        secretName: APP_SECRET,
        version: ws.spec.database.version,
      },
      events: [],
    };
  }

  sharedDeps(ws: Workspace): SharedDeps {
    return {
      ...this.serverLookups(),
      pool: this.d.servers,
      log: this.d.log,
      applySecret: (secret, current) => this.apply(ws, secret, current),
    };
  }

  /** How a SharedDatabaseServer and the Secrets it refers to are found. */
  serverLookups(): Pick<SharedDeps, 'server' | 'secret'> {
    return {
      // The operator's namespace, where a SharedDatabaseServer's Secrets
      // usually are, is watched: reading them for each reconcile of a
      // thousand workspaces would be a thousand reads each time.
      secret: async (namespace, name) =>
        namespace === this.d.operatorSecrets?.spec.namespace
          ? this.d.operatorSecrets.get(name, namespace)
          : this.d.rest.find<SecretObject>(objectPath('Secret', name, namespace)),
      server: (name) => this.d.caches.sharedServers.get(name),
    };
  }

  /** Server-side apply that refuses to write over what this Workspace does not own. */
  private apply(ws: Workspace, desired: KubeObject, current: KubeObject | undefined) {
    return this.d.applier.apply(desired, current, (existing) => ownershipProblem(ws, existing));
  }

  /** The server certificate, from the internal CA or through cert-manager. */
  private async applyCertificate(ws: Workspace): Promise<CertificateDecision> {
    const ns = namespaceOf(ws.metadata.name);
    if (ws.spec.tls.issuer === 'Internal') {
      const existing = this.d.applier.fresher(
        { apiVersion: 'v1', kind: 'Secret', metadata: { name: TLS_SECRET, namespace: ns } },
        this.d.caches.tlsSecrets.get(TLS_SECRET, ns),
      );
      const decision = await decideInternalCertificate(
        ws,
        this.d.authority(),
        existing,
        (this.d.now ?? (() => new Date()))(),
        this.d.allowedDnsSuffixes,
      );
      if (decision.secret) await this.apply(ws, decision.secret, existing);
      return decision;
    }
    // cert-manager may not be installed, so its objects are read directly
    // rather than through an informer.
    const desired = desiredCertManagerCertificate(ws);
    const current = await this.d.rest.find<KubeObject>(objectPath('Certificate', TLS_SECRET, ns));
    try {
      await this.apply(ws, desired, current);
    } catch (err) {
      if (err instanceof ApiError && err.code === 404)
        return { conditions: [CERT_MANAGER_MISSING], requeueAfterMs: 60_000 };
      throw err;
    }
    const condition = certManagerCondition(current);
    return { conditions: [condition], ...(condition.status === 'True' ? {} : { requeueAfterMs: 10_000 }) };
  }

  /** Namespace, network policies, quota and volume, in that order. */
  private async applyObjects(
    ws: Workspace,
  ): Promise<{ volume: ReturnType<typeof decideVolume>; claim: KubeObject | undefined }> {
    const { caches } = this.d;
    const name = ws.metadata.name;
    const ns = namespaceOf(name);
    await this.apply(ws, desiredNamespace(ws), caches.namespaces.get(ns));

    const peers = await networkPeers(ws, {
      rest: this.d.rest,
      server: (n) => caches.sharedServers.get(n),
      destinationEndpoint: (n) => caches.backupDestinations.get(n)?.spec?.s3?.endpoint,
    });
    const policies = desiredNetworkPolicies(ws, peers);
    for (const p of policies) await this.apply(ws, p, caches.networkPolicies.get(p.metadata.name, ns));
    await this.prune(caches.networkPolicies, 'NetworkPolicy', name, ns, new Set(policies.map((p) => p.metadata.name)));

    const quota = desiredResourceQuota(ws);
    await this.apply(ws, quota, caches.resourceQuotas.get(quota.metadata.name, ns));
    const limits = desiredLimitRange(ws);
    await this.apply(ws, limits, caches.limitRanges.get(limits.metadata.name, ns));

    const claim = caches.claims.get(DATA_CLAIM, ns);
    const volume = decideVolume({ ws, classes: caches.storageClasses.list(), claim });
    if (volume.desired) await this.apply(ws, volume.desired, claim);
    // As just written (a new claim is Pending), not as the cache still has it:
    // the status then says it now, not in a second write.
    return { volume, claim: volume.desired ? this.d.applier.fresher(volume.desired, claim) : claim };
  }

  /** Deletes objects of `kind` this workspace owns that are no longer desired. */
  private async prune(
    cache: Informer<KubeObject>,
    kind: 'NetworkPolicy',
    workspace: string,
    ns: string,
    keep: Set<string>,
  ): Promise<void> {
    for (const obj of cache.list()) {
      if (obj.metadata.namespace !== ns || obj.metadata.labels?.[WORKSPACE_LABEL] !== workspace) continue;
      if (keep.has(obj.metadata.name) || obj.metadata.deletionTimestamp) continue;
      await this.d.rest.request('DELETE', objectPath(kind, obj.metadata.name, ns));
      this.d.metrics.apiWrites.inc({ kind, verb: 'delete' });
    }
  }

  /** Writes status when it differs (see status.ts); returns the condition types that changed. */
  private writeStatus(ws: Workspace, base: WorkspaceStatus, updates: ConditionInput[]): Promise<string[]> {
    return writeWorkspaceStatus(this.d, ws, base, updates);
  }
}
