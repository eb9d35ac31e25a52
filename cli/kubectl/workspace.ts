// `kubectl holdfast status | backups | backup now`: what a platform engineer
// asks about one workspace, answered from its Workspace, Backup and Restore resources.
import { ApiError, collectionPath, isNotFound, objectPath, type Rest } from '../../kube/rest.js';
import type { BackupResourceStatus } from '../../operator/api/backup.js';
import {
  API_VERSION,
  WORKSPACE_KIND,
  WorkspaceSpec,
  namespaceOf,
  type Workspace,
} from '../../operator/api/workspace.js';
import { backupName } from '../../operator/backup/artifact.js';
import { nextRun } from '../../operator/api/cron.js';
import { askForBackup } from '../../operator/workspace/backup-requests.js';
import type { BackupObject, RestoreObject } from '../../operator/workspace/deps.js';

type Out = NodeJS.WritableStream;

async function workspace(rest: Rest, name: string): Promise<Workspace> {
  const ws = await readableWorkspace(rest, name);
  if (!ws)
    throw new Error(
      `you may not read workspace ${name} (a cluster-scoped Workspace): ask for a ClusterRole that grants get on workspaces "${name}"`,
    );
  return ws;
}

/**
 * The Workspace, or undefined when the caller may not read it: a tenant admin
 * or auditor is granted the Backups of one namespace, not the cluster-scoped
 * Workspace, and still lists and asks for backups.
 */
async function readableWorkspace(rest: Rest, name: string): Promise<Workspace | undefined> {
  try {
    return await rest.get<Workspace>(objectPath('Workspace', name));
  } catch (err) {
    if (isNotFound(err)) throw new Error(`workspace "${name}" not found (kubectl get ws lists them)`, { cause: err });
    if (err instanceof ApiError && err.code === 403) return undefined;
    throw err;
  }
}

async function backupsOf(rest: Rest, ws: string): Promise<BackupObject[]> {
  const list = await rest.get<{ items: BackupObject[] }>(collectionPath('Backup', namespaceOf(ws)));
  const when = (b: BackupObject) => b.status?.completedAt ?? b.status?.startedAt ?? b.metadata.creationTimestamp ?? '';
  return list.items.filter((b) => b.spec?.workspace === ws).sort((a, b) => when(b).localeCompare(when(a)));
}

/** "3h12m", "2d4h", "45s": how far a time is from now, as kubectl prints ages. */
export function span(ms: number): string {
  const s = Math.max(0, Math.round(Math.abs(ms) / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d${h}h`;
  if (h > 0) return `${h}h${m}m`;
  if (m > 0) return `${m}m${s % 60}s`;
  return `${s}s`;
}

function at(time: string | undefined, now: Date): string {
  if (!time) return 'never';
  const ms = Date.parse(time) - now.getTime();
  return `${time} (${ms <= 0 ? `${span(ms)} ago` : `in ${span(ms)}`})`;
}

/** The longest wait between two runs of a schedule over the coming weeks: the recovery point objective it keeps. */
export function longestGap(schedule: string, from: Date): number | undefined {
  let prev = nextRun(schedule, from);
  if (!prev) return undefined;
  let gap = 0;
  for (let i = 0; i < 400 && prev.getTime() - from.getTime() < 62 * 86_400_000; i++) {
    const next = nextRun(schedule, prev);
    if (!next) break;
    gap = Math.max(gap, next.getTime() - prev.getTime());
    prev = next;
  }
  return gap || undefined;
}

/** Left-aligned columns, three spaces apart, as kubectl prints tables. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows]
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('   ')
        .trimEnd(),
    )
    .join('\n');
}

export async function status(rest: Rest, name: string, out: Out, now = new Date()): Promise<number> {
  const ws = await workspace(rest, name);
  const st = ws.status ?? {};
  const ready = st.conditions?.find((c) => c.type === 'Ready');
  const lines: string[] = [];
  const row = (label: string, text: string) => lines.push(`${label.padEnd(13)}${text}`);
  lines.push(`Workspace ${name}: ${st.phase ?? 'Pending'}${ready ? ` (Ready=${ready.status}, ${ready.reason})` : ''}`);
  if (ready && ready.status !== 'True') lines.push(`  ${ready.message}`);
  lines.push('');
  row('Namespace', st.namespace ?? namespaceOf(name));
  const db = st.database;
  row(
    'Database',
    db
      ? `${db.mode} (${db.provider})${db.version ? `, PostgreSQL ${db.version}` : ''}` +
          `${db.host ? ` at ${db.host}:${db.port ?? 5432}` : ''}${db.name ? `, database ${db.name}` : ''}` +
          `${db.secretName ? `, credentials in Secret ${db.secretName}` : ''}`
      : 'not provisioned yet',
  );
  if (st.volume)
    row(
      'Volume',
      `${st.volume.claimName} (${st.volume.encrypted ? 'encrypted' : 'not encrypted'}${st.volume.phase ? `, ${st.volume.phase}` : ''})`,
    );
  const cert = st.certificate;
  row(
    'Certificate',
    cert?.notAfter
      ? `expires ${at(cert.notAfter, now)}${cert.renewalTime ? `, renews ${at(cert.renewalTime, now)}` : ''}`
      : 'not issued yet',
  );

  const backups = await backupsOf(rest, name);
  const spec = ws.spec.backup;
  const last = backups.find((b) => b.status?.phase === 'Succeeded');
  row('Last backup', last ? `${at(st.lastBackupTime ?? last.status?.completedAt, now)}: ${describe(last)}` : 'never');
  const gap = longestGap(spec.schedule, now);
  const point = st.recoveryPoint ? Date.parse(st.recoveryPoint) : undefined;
  const rpo =
    point === undefined
      ? 'no recovery point yet: no backup is stored at every destination'
      : `${span(now.getTime() - point)} behind${gap ? ` (the schedule "${spec.schedule}" keeps it within ${span(gap)}` : ''}` +
        `${gap && now.getTime() - point > gap ? ': LATE, see the last failure below)' : gap ? ')' : ''}`;
  row('Recovery pt.', st.recoveryPoint ? `${st.recoveryPoint}, ${rpo}` : rpo);
  row('Next backup', `${at(st.backup?.nextScheduleTime, now)} (schedule "${spec.schedule}")`);
  if (st.backup?.lastFailure) row('Last failure', `${at(st.backup.lastFailureTime, now)}: ${st.backup.lastFailure}`);
  row('Last drill', `${at(st.lastVerifiedTime, now)} (schedule "${spec.verify.schedule}")`);
  row(
    'Last export',
    `${at(st.lastExportTime, now)} (schedule "${spec.export.schedule}", kept ${spec.export.retentionDays} days)`,
  );
  const restore = await lastRestore(rest, name);
  if (restore) {
    const r = restore.status ?? {};
    row(
      'Last restore',
      `${restore.metadata.name}: ${r.phase ?? 'Pending'}${r.progress && (r.phase === 'BackingUp' || r.phase === 'Restoring') ? ` ${r.progress}` : ''}` +
        `${r.backup ? `, backup ${r.backup}` : ''}${r.completedAt ? `, ${at(r.completedAt, now)}` : ''}` +
        `${r.safetyBackup ? ` (the data before in ${r.safetyBackup})` : ''}${r.phase === 'Failed' && r.message ? `: ${r.message}` : ''}`,
    );
  }
  row('Destinations', spec.destinations?.map((d) => d.name).join(', ') || 'none: backups are not scheduled');
  lines.push('');
  lines.push(
    table(
      ['CONDITION', 'STATUS', 'REASON', 'AGE', 'MESSAGE'],
      (st.conditions ?? []).map((c) => [
        c.type,
        c.status,
        c.reason,
        span(now.getTime() - Date.parse(c.lastTransitionTime)),
        c.message,
      ]),
    ),
  );
  out.write(`${lines.join('\n')}\n`);
  return 0;
}

/** The workspace's newest Restore, if the caller may list them (a 403 is no answer, not an error). */
async function lastRestore(rest: Rest, ws: string): Promise<RestoreObject | undefined> {
  try {
    const list = await rest.get<{ items: RestoreObject[] }>(collectionPath('Restore', namespaceOf(ws)));
    return list.items
      .filter((r) => r.spec?.workspace === ws)
      .sort((a, b) => (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''))[0];
  } catch (err) {
    if (err instanceof ApiError && err.code === 403) return undefined;
    throw err;
  }
}

function describe(b: BackupObject): string {
  const s: BackupResourceStatus = b.status ?? {};
  return [
    b.metadata.name,
    s.sizeText,
    s.copiesText ? `${s.copiesText} copies` : undefined,
    s.tables !== undefined ? `${s.tables} tables, ${s.rows ?? 0} rows` : undefined,
  ]
    .filter(Boolean)
    .join(', ');
}

export async function listBackups(rest: Rest, name: string, out: Out, now = new Date()): Promise<number> {
  await readableWorkspace(rest, name);
  const backups = await backupsOf(rest, name);
  if (backups.length === 0) {
    out.write(`workspace ${name} has no backups yet (kubectl holdfast backup now ${name} takes one)\n`);
    return 0;
  }
  out.write(
    `${table(
      ['NAME', 'PHASE', 'REASON', 'COMPLETED', 'SIZE', 'COPIES', 'TABLES', 'ROWS', 'VERIFIED', 'MESSAGE'],
      backups.map((b) => {
        const s = b.status ?? {};
        return [
          b.metadata.name,
          s.phase ?? 'Pending',
          b.spec?.reason ?? '',
          s.completedAt ? `${span(now.getTime() - Date.parse(s.completedAt))} ago` : '',
          s.sizeText ?? '',
          s.copiesText ?? '',
          s.tables === undefined ? '' : String(s.tables),
          s.rows === undefined ? '' : String(s.rows),
          s.verifiedAt ? `${span(now.getTime() - Date.parse(s.verifiedAt))} ago` : '',
          s.phase === 'Failed' || s.copies?.some((c) => c.phase === 'Failed')
            ? (s.message ?? s.copies?.find((c) => c.message)?.message ?? '')
            : '',
        ];
      }),
    )}\n`,
  );
  return 0;
}

/**
 * Asks for a backup by creating a Backup resource (the operator starts its
 * Job), then follows it to its end: the exit code says whether it was stored
 * everywhere (0), failed (1), or stands with a copy missing (3), as the job's does.
 */
export async function backupNow(
  rest: Rest,
  name: string,
  out: Out,
  opts: { detach: boolean; timeoutMs?: number },
): Promise<number> {
  const readable = await readableWorkspace(rest, name);
  if (readable && !readable.spec.backup.destinations?.length)
    throw new Error(
      `workspace ${name} has no backup destination: add one to spec.backup.destinations (kubectl get backupdestinations lists them)`,
    );
  // A tenant admin's view: the Backup names its workspace; the operator checks the rest.
  const ws = readable ?? {
    apiVersion: API_VERSION,
    kind: WORKSPACE_KIND,
    metadata: { name },
    spec: WorkspaceSpec.parse({}),
  };
  const backup = backupName(name, new Date());
  const created = await askForBackup(rest, ws, backup, 'OnDemand');
  if (!created) throw new Error(`a Backup named ${backup} exists already: try again in a second`);
  const ns = namespaceOf(name);
  out.write(`backup ${backup} asked for in namespace ${ns}\n`);
  if (opts.detach) {
    out.write(`follow it with: kubectl get backup ${backup} -n ${ns} -w\n`);
    return 0;
  }
  const deadline = Date.now() + (opts.timeoutMs ?? 3_600_000);
  let said = '';
  for (;;) {
    const b = await rest.find<BackupObject>(objectPath('Backup', backup, ns));
    if (!b) throw new Error(`backup ${backup} was deleted while it ran`);
    const s = b.status ?? {};
    const now = `${s.phase ?? 'Pending'}${s.copiesText ? `, ${s.copiesText} copies stored` : ''}${s.message ? `: ${s.message}` : ''}`;
    if (now !== said) out.write(`  ${now}\n`);
    said = now;
    if (s.phase === 'Succeeded') {
      const missing = s.copies?.filter((c) => c.phase !== 'Stored') ?? [];
      for (const c of missing) out.write(`  copy at ${c.destination} ${c.phase}: ${c.message ?? ''}\n`);
      out.write(`${describe(b)}: stored as ${s.artifact}\n`);
      return missing.length > 0 ? 3 : 0;
    }
    if (s.phase === 'Failed') {
      out.write(
        `backup ${backup} failed; its Job's log says more: kubectl logs -n ${ns} job/${s.job ?? `backup-${backup}`}\n`,
      );
      return 1;
    }
    if (Date.now() > deadline)
      throw new Error(
        `backup ${backup} has not finished in time; it goes on: kubectl get backup ${backup} -n ${ns} -w`,
      );
    await new Promise((r) => setTimeout(r, 1000));
  }
}
