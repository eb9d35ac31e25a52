// The Restores of a workspace, which the operator moves along:
//   - asked for (no phase, or Pending): the backup is chosen (by name, or the
//     newest good one before spec.before), and a safety backup of the data it
//     replaces is asked for (reason BeforeRestore). One Restore at a time per
//     workspace; the next waits, Pending.
//   - BackingUp: once the safety backup has succeeded, the Job that restores
//     starts (the drill's pod without its scratch server); if it failed,
//     nothing is restored.
//   - Restoring: the Job reports its progress on the Restore; a Job that ended
//     without finishing it fails it (restores commit at their end only, so
//     the database is as it was).
//   - finished: one Event on the Workspace and holdfast_restores_total, once.
// A Restore into a new database (spec.newDatabase) replaces nothing, so it
// takes no safety backup: once the database can be made (on a Shared server
// the operator makes it, marked as the workspace's; on the built-in server
// the Job makes it as the superuser) the Job starts at once.
// A Restore to a point in time (spec.pointInTime, CloudNativePG with a WAL
// archive) becomes a recovery Cluster beside the workspace's, which
// CloudNativePG fills from the archive; it Succeeds once that Cluster is ready.
import { createHash } from 'node:crypto';
import { collectionPath, isConflict, objectPath, type KubeObject, type Rest } from '../../kube/rest.js';
import type { EventRecorder } from '../../kube/events.js';
import { RESTORE_API, RESTORE_KIND, type RestoreSpec, type RestoreStatus } from '../api/restore.js';
import { API_VERSION, WORKSPACE_KIND, namespaceOf, type Workspace } from '../api/workspace.js';
import { restoreJob } from '../backup/schedule.js';
import { sharedIdentifier } from '../database/shared.js';
import { SUPERUSER_SECRET } from './database/dedicated.js';
import { desiredRecoveryCluster, walArchiveOf, type WalArchive } from './database/cloudnative-pg.js';
import type { Metrics } from '../runtime/metrics.js';
import { askForBackup } from './backup-requests.js';
import {
  failedText,
  JOB_GONE_AFTER_MS,
  jobEnded,
  markReported,
  patchStatusAsRead,
  REPORT_WITHIN_MS,
  REPORTED_ANNOTATION,
} from './job-carried.js';
import type { BackupObject } from './deps.js';

export type RestoreObject = KubeObject & { spec?: RestoreSpec; status?: RestoreStatus };

export interface RestoreDeps {
  rest: Rest;
  events: EventRecorder;
  metrics: Metrics;
  /** The namespace's Restores and Backups, from the cache. */
  restores: readonly RestoreObject[];
  backups: readonly BackupObject[];
  job: (name: string) => KubeObject | undefined;
  /** The drill's CronJob as applied; undefined while backups cannot run. */
  verifyCronJob: KubeObject | undefined;
  /** Why backups cannot run, when verifyCronJob is undefined. */
  notScheduled: string;
  /**
   * Shared mode: makes `database` on the workspace's server, empty, owned by
   * its role and marked as its own; returns why it cannot, or undefined.
   */
  createSharedDatabase?: (database: string) => Promise<string | undefined>;
  /** CloudNativePG: the workspace's storage class and BackupDestinations, for recovery Clusters. */
  storageClass?: string;
  destination?: (name: string) => { spec?: { s3?: WalArchive['s3'] } } | undefined;
  now: Date;
}

/** How often a recovery Cluster is looked at while it recovers (nothing else wakes the workspace). */
const RECOVERY_POLL_MS = 10_000;
/** When a new database that could not be made (its server out of reach) is tried again. */
const RETRY_MS = 30_000;
/** A recovery not ready by then has failed for good (the archive has no base backup that old, or WAL is missing). */
const RECOVERY_LIMIT_MS = 6 * 3600_000;

const ACTIVE = new Set(['BackingUp', 'Restoring']);

/**
 * The Backup a Restore asks for: the one named, or the newest Succeeded one
 * completed at or before `before`; otherwise why there is none.
 */
export function chooseBackup(
  spec: RestoreSpec,
  backups: readonly { name: string; status?: BackupObject['status'] }[],
): { backup: string } | { error: string } {
  const good = backups.filter((b) => b.status?.phase === 'Succeeded' && b.status.artifact && b.status.completedAt);
  if (spec.backup !== undefined) {
    const named = backups.find((b) => b.name === spec.backup);
    if (!named)
      return { error: `backup ${spec.backup} does not exist: kubectl get backups lists those of ${spec.workspace}` };
    if (!good.includes(named))
      return {
        error: `backup ${spec.backup} is ${named.status?.phase ?? 'not taken yet'}, not Succeeded: only a stored backup can be restored`,
      };
    return { backup: named.name };
  }
  const before = Date.parse(spec.before ?? '');
  if (Number.isNaN(before))
    return { error: `spec.before "${spec.before}" is not a time: write it as RFC 3339, such as 2026-11-30T09:00:00Z` };
  const chosen = good
    .filter((b) => Date.parse(b.status!.completedAt!) <= before)
    .sort((a, b) => Date.parse(b.status!.completedAt!) - Date.parse(a.status!.completedAt!))[0];
  return chosen
    ? { backup: chosen.name }
    : { error: `no Succeeded backup of ${spec.workspace} completed at or before ${spec.before}` };
}

/** The safety backup's name: the Restore's, marked. */
export function safetyBackupName(restore: string): string {
  const name = `${restore}-before`;
  if (name.length <= 63) return name;
  const hash = createHash('sha256').update(restore).digest('hex').slice(0, 8);
  return `${name.slice(0, 54).replace(/-+$/, '')}-${hash}`;
}

/** Moves the workspace's Restores along; returns when to look again, while a recovery Cluster recovers. */
export async function handleRestores(ws: Workspace, d: RestoreDeps): Promise<number | undefined> {
  const name = ws.metadata.name;
  const ns = namespaceOf(name);
  const restores = [...d.restores].sort((a, b) =>
    (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''),
  );
  const begun = new Set<RestoreObject>();
  let requeueAfterMs: number | undefined;
  for (const r of restores) {
    const phase = r.status?.phase;
    if (r.spec?.workspace !== name) {
      if (!phase)
        await patchStatus(d.rest, r, {
          phase: 'Failed',
          completedAt: d.now.toISOString(),
          message: `spec.workspace must be "${name}", the workspace of namespace ${ns}: create the Restore in the namespace of the workspace to restore`,
        });
      continue;
    }
    if (!phase || phase === 'Pending') {
      // One at a time: the first begun in this pass counts, before the cache shows it.
      const busy = restores.find((o) => o !== r && (ACTIVE.has(o.status?.phase ?? '') || begun.has(o)));
      if (busy) await pending(r, `waiting: Restore ${busy.metadata.name} of this workspace runs first`, d);
      else {
        const started = await begin(ws, r, d);
        if (started === true) begun.add(r);
        else if (started === 'retry') requeueAfterMs = Math.min(requeueAfterMs ?? RETRY_MS, RETRY_MS);
      }
    } else if (phase === 'BackingUp') await afterSafetyBackup(r, d);
    else if (phase === 'Restoring' && r.status?.cluster) {
      if (!(await followRecovery(r, d)))
        requeueAfterMs = Math.min(requeueAfterMs ?? RECOVERY_POLL_MS, RECOVERY_POLL_MS);
    } else if (phase === 'Restoring') await failIfJobEnded(r, d);
    else if (r.metadata.annotations?.[REPORTED_ANNOTATION] !== phase) await report(ws, r, d);
  }
  return requeueAfterMs;
}

async function pending(r: RestoreObject, message: string, d: RestoreDeps): Promise<void> {
  if (r.status?.phase !== 'Pending' || r.status.message !== message)
    await patchStatus(d.rest, r, { phase: 'Pending', message });
}

/**
 * Chooses the backup and asks for the safety backup; true once the Restore
 * is under way, 'retry' when it waits on something that may pass by itself.
 */
async function begin(ws: Workspace, r: RestoreObject, d: RestoreDeps): Promise<boolean | 'retry'> {
  if (r.spec!.pointInTime !== undefined) return recoverToPointInTime(ws, r, r.spec!.pointInTime, d);
  if (!d.verifyCronJob) {
    await pending(r, d.notScheduled, d);
    return false;
  }
  const chosen = chooseBackup(
    r.spec!,
    d.backups.map((b) => ({ name: b.metadata.name, ...(b.status ? { status: b.status } : {}) })),
  );
  if ('error' in chosen) {
    await patchStatus(d.rest, r, { phase: 'Failed', completedAt: d.now.toISOString(), message: chosen.error });
    return false;
  }
  if (r.spec!.newDatabase !== undefined) return intoNewDatabase(ws, r, chosen.backup, r.spec!.newDatabase, d);
  const safety = safetyBackupName(r.metadata.name);
  await askForBackup(d.rest, ws, safety, 'BeforeRestore');
  await patchStatus(d.rest, r, {
    phase: 'BackingUp',
    backup: chosen.backup,
    safetyBackup: safety,
    startedAt: d.now.toISOString(),
    progress: 'safety backup',
    message: `taking backup ${safety} of the data that backup ${chosen.backup} will replace`,
  });
  return true;
}

async function afterSafetyBackup(r: RestoreObject, d: RestoreDeps): Promise<void> {
  const s = r.status!;
  const ns = r.metadata.namespace;
  let safety = d.backups.find((b) => b.metadata.name === s.safetyBackup);
  // Asked for in the reconcile that began this Restore: the cache may not have it yet.
  safety ??= await d.rest.find<BackupObject>(objectPath('Backup', s.safetyBackup ?? '', ns));
  const fail = (why: string) =>
    patchStatus(d.rest, r, {
      phase: 'Failed',
      completedAt: d.now.toISOString(),
      message: `the safety backup ${s.safetyBackup} ${why}: nothing was restored, the database is as it was`,
    });
  if (!safety) return fail('is gone (deleted before it finished)');
  // One of that name left by an earlier Restore of this name holds older data.
  if (Date.parse(safety.metadata.creationTimestamp ?? '') < Date.parse(r.metadata.creationTimestamp ?? ''))
    return fail('is older than this Restore (a Restore of the same name made it): delete it, or name the Restore anew');
  const phase = safety.status?.phase;
  if (phase === 'Failed') return fail(`failed (${safety.status?.message ?? 'no reason given'})`);
  if (phase !== 'Succeeded') return;
  if (!d.verifyCronJob) return;
  const job = await startJob(r, d.verifyCronJob, d);
  await patchStatus(d.rest, r, {
    phase: 'Restoring',
    job,
    progress: '0%',
    message: `Job ${job} restores backup ${s.backup}; the data before is in backup ${s.safetyBackup}`,
  });
}

/** The Job that restores (made once; a Job of its name already there is this Restore's); returns its name. */
async function startJob(
  r: RestoreObject,
  verifyCronJob: KubeObject,
  d: RestoreDeps,
  opts: { superuserSecret?: string } = {},
): Promise<string> {
  const job = restoreJob(
    verifyCronJob,
    { name: r.metadata.name, namespace: r.metadata.namespace!, uid: r.metadata.uid! },
    opts,
  );
  if (!d.job(job.metadata.name)) {
    await d.rest.request('POST', collectionPath('Job', r.metadata.namespace), { body: job }).catch((err: unknown) => {
      if (!isConflict(err)) throw err;
    });
    d.metrics.apiWrites.inc({ kind: 'Job', verb: 'create' });
  }
  return job.metadata.name;
}

/**
 * A restore beside the workspace's database: nothing is replaced, so no
 * safety backup. The new database must not be the workspace's own; on a
 * Shared server the operator makes it (the workspace's role may not), on the
 * built-in server the Job does, as the superuser. CloudNativePG keeps no
 * superuser Holdfast could use, so it is refused there.
 */
async function intoNewDatabase(
  ws: Workspace,
  r: RestoreObject,
  backup: string,
  database: string,
  d: RestoreDeps,
): Promise<boolean | 'retry'> {
  const fail = async (message: string) => {
    await patchStatus(d.rest, r, { phase: 'Failed', completedAt: d.now.toISOString(), backup, message });
    return false;
  };
  const shared = ws.spec.database.mode === 'Shared';
  if (!shared && ws.spec.database.provider === 'cloudnative-pg')
    return fail(
      'spec.newDatabase is not available with provider cloudnative-pg (its application role may not create databases, and CloudNativePG keeps the superuser): restore in place, or into a new Workspace',
    );
  const current = shared ? sharedIdentifier(ws.metadata.name) : 'app';
  if (database === current)
    return fail(
      `spec.newDatabase ${database} is the workspace's own database: name a new one, or leave spec.newDatabase out to restore in place`,
    );
  // ws_<name> is how every Shared workspace's database is named: one may not take another's.
  if (shared && database.startsWith('ws_') && !database.startsWith(`${current}_`))
    return fail(
      `spec.newDatabase ${database} is a name Shared workspaces' databases have: choose one that does not start with ws_ (or starts with ${current}_)`,
    );
  if (shared) {
    let problem: string | undefined;
    try {
      problem = await d.createSharedDatabase?.(database);
    } catch (err) {
      // The server out of reach, say: asked again at the next reconcile.
      await pending(r, `waiting: the database ${database} cannot be made yet: ${(err as Error).message}`, d);
      return 'retry';
    }
    if (problem) return fail(`${problem}; nothing was restored`);
  }
  const job = await startJob(r, d.verifyCronJob!, d, shared ? {} : { superuserSecret: SUPERUSER_SECRET });
  await patchStatus(d.rest, r, {
    phase: 'Restoring',
    backup,
    database,
    job,
    startedAt: d.now.toISOString(),
    progress: '0%',
    message: `Job ${job} restores backup ${backup} into the new database ${database}, beside ${current}, which stays as it is`,
  });
  return true;
}

async function failIfJobEnded(r: RestoreObject, d: RestoreDeps): Promise<void> {
  const jobName = r.status?.job;
  if (!jobName) return;
  // Just created, the Job may not be in the cache yet: asked for before it is called gone.
  const job = d.job(jobName) ?? (await d.rest.find<KubeObject>(objectPath('Job', jobName, r.metadata.namespace)));
  const ours = job?.metadata.ownerReferences?.some((o) => o.uid === r.metadata.uid) ? job : undefined;
  const ended = jobEnded(ours);
  const started = Date.parse(r.status?.startedAt ?? '') || d.now.getTime();
  let why: string;
  if (ended) why = `its Job ${jobName} ${ended.type === 'Failed' ? failedText(ended) : 'completed without reporting'}`;
  else if (!ours && d.now.getTime() - started > JOB_GONE_AFTER_MS) why = `its Job ${jobName} is gone`;
  else return;
  // Read again: the pod's last write may not have reached the cache yet.
  const fresh = await d.rest.find<RestoreObject>(objectPath('Restore', r.metadata.name, r.metadata.namespace));
  if (fresh?.status?.phase !== 'Restoring') return;
  await patchStatus(d.rest, fresh, {
    phase: 'Failed',
    completedAt: d.now.toISOString(),
    message: `${why}; a restore commits only at its end, so unless its log says it committed, the database is as it was. See kubectl logs -n ${r.metadata.namespace} job/${jobName}`,
  });
}

async function report(ws: Workspace, r: RestoreObject, d: RestoreDeps): Promise<void> {
  const s = r.status!;
  const marked = await markReported(d.rest, 'Restore', r, s.phase!);
  if (!marked || d.now.getTime() - (Date.parse(s.completedAt ?? '') || 0) > REPORT_WITHIN_MS) return;
  const ok = s.phase === 'Succeeded';
  d.metrics.restores.inc({ workspace: ws.metadata.name, result: ok ? 'succeeded' : 'failed' });
  await d.events.record(
    { apiVersion: API_VERSION, kind: WORKSPACE_KIND, metadata: ws.metadata },
    ok ? 'Normal' : 'Warning',
    ok ? 'RestoreSucceeded' : 'RestoreFailed',
    'Restore',
    `restore ${r.metadata.name}${s.backup ? ` of backup ${s.backup}` : ''} ${ok ? 'succeeded' : 'failed'}: ${s.message ?? ''}`,
    { apiVersion: RESTORE_API, kind: RESTORE_KIND, metadata: r.metadata },
  );
}

const patchStatus = (rest: Rest, r: RestoreObject, status: Partial<RestoreStatus>) =>
  patchStatusAsRead(rest, 'Restore', r, status);

/**
 * A Restore to a point in time: the recovery Cluster is made (once; one of
 * its name already there is this Restore's, by its uid) and CloudNativePG
 * recovers it from the workspace's WAL archive.
 */
async function recoverToPointInTime(ws: Workspace, r: RestoreObject, at: string, d: RestoreDeps): Promise<boolean> {
  const fail = async (message: string) => {
    await patchStatus(d.rest, r, { phase: 'Failed', completedAt: d.now.toISOString(), message });
    return false;
  };
  if (ws.spec.database.provider !== 'cloudnative-pg' || !ws.spec.backup.pointInTime)
    return fail(
      'spec.pointInTime needs a Workspace with spec.database.provider: cloudnative-pg and spec.backup.pointInTime (a WAL archive): restore a backup instead, with spec.backup or spec.before',
    );
  const target = Date.parse(at);
  if (Number.isNaN(target))
    return fail(`spec.pointInTime "${at}" is not a time: write it as RFC 3339, such as 2026-11-30T09:00:00Z`);
  if (target > d.now.getTime())
    return fail(`spec.pointInTime ${at} is in the future: the archive holds what was, up to now`);
  const { archive, condition } = walArchiveOf(ws, (n) => d.destination?.(n));
  if (!archive) return fail(`${condition?.message ?? 'no WAL archive'}; nothing was restored`);
  const cluster = desiredRecoveryCluster(
    ws,
    { name: r.metadata.name, uid: r.metadata.uid! },
    new Date(target),
    d.storageClass,
    archive,
  );
  await d.rest
    .request('POST', collectionPath('Cluster', r.metadata.namespace), { body: cluster })
    .catch((err: unknown) => {
      if (!isConflict(err)) throw err;
    });
  d.metrics.apiWrites.inc({ kind: 'Cluster', verb: 'create' });
  await patchStatus(d.rest, r, {
    phase: 'Restoring',
    cluster: cluster.metadata.name,
    database: 'app',
    destination: archive.destination,
    startedAt: d.now.toISOString(),
    progress: 'recovering',
    message: `CloudNativePG recovers Cluster ${cluster.metadata.name} to ${new Date(target).toISOString()} from the WAL archive at ${archive.destination}, beside cluster db, which stays as it is`,
  });
  return true;
}

/** A recovery Cluster's end: true once the Restore is finished (Succeeded or Failed). */
async function followRecovery(r: RestoreObject, d: RestoreDeps): Promise<boolean> {
  const name = r.status!.cluster!;
  const ns = r.metadata.namespace!;
  const cluster = await d.rest.find<KubeObject>(objectPath('Cluster', name, ns));
  const started = Date.parse(r.status?.startedAt ?? '') || d.now.getTime();
  const finish = async (phase: 'Succeeded' | 'Failed', message: string) => {
    await patchStatus(d.rest, r, {
      phase,
      completedAt: d.now.toISOString(),
      durationSeconds: Math.round((d.now.getTime() - started) / 100) / 10,
      progress: phase === 'Succeeded' ? '100%' : (r.status?.progress ?? ''),
      message,
    });
    return true;
  };
  if (!cluster || !cluster.metadata.ownerReferences?.some((o) => o.uid === r.metadata.uid))
    return finish('Failed', `the recovery Cluster ${name} is gone (deleted while it recovered); nothing was restored`);
  const status = cluster.status as
    { phase?: string; phaseReason?: string; conditions?: { type: string; status: string }[] } | undefined;
  if (status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
    return finish(
      'Succeeded',
      `Cluster ${name} holds the database as it was at ${r.spec!.pointInTime}: connect at ${name}-rw.${ns}.svc:5432, database app, with db-app's user and password (its CA is in Secret ${name}-ca); cluster db is as it was. Delete the Restore to delete ${name}`,
    );
  // CloudNativePG's recovery runs as a Job; its failure is final.
  const jobs = (
    await d.rest.get<{ items: KubeObject[] }>(collectionPath('Job', ns), { labelSelector: `cnpg.io/cluster=${name}` })
  ).items;
  const failed = jobs.find((j) =>
    (j.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions?.some(
      (c) => c.type === 'Failed' && c.status === 'True',
    ),
  );
  if (failed)
    return finish(
      'Failed',
      `CloudNativePG's recovery Job ${failed.metadata.name} failed (no base backup before ${r.spec!.pointInTime}, or WAL missing from the archive?): kubectl logs -n ${ns} job/${failed.metadata.name}; cluster db is as it was`,
    );
  if (d.now.getTime() - started > RECOVERY_LIMIT_MS)
    return finish(
      'Failed',
      `Cluster ${name} is not ready after ${RECOVERY_LIMIT_MS / 3600_000} h (${status?.phase ?? 'no phase'}): kubectl describe cluster -n ${ns} ${name}; it is left for inspection, and goes with the Restore; cluster db is as it was`,
    );
  const progress = status?.phase ? `recovering: ${status.phase}` : 'recovering';
  if (r.status?.progress !== progress) await patchStatus(d.rest, r, { progress });
  return false;
}
