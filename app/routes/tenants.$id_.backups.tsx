import { type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, Link, useActionData, useLoaderData, useRevalidator } from '@remix-run/react';
import { useEffect } from 'react';
import { canWriteTenant } from '../console.server';
import { formatBytes } from '../../console/tenants/retention-preview';
import { BackupTimeline, SeriesChart, drillPoints, recoveryPoints } from '../components/charts';
import { Csrf, Field, Notice } from '../components/forms';
import { Badge, when } from '../components/table';
import { attempt, field, requireViewer } from '../session.server';

export const meta: MetaFunction<typeof loader> = ({ data }) => [
  { title: `Backups of ${data?.tenant.displayName ?? 'a tenant'} · Holdfast` },
];

const DAY = 86_400_000;

export async function loader({ context, request, params }: LoaderFunctionArgs) {
  const viewer = requireViewer(context, request);
  const id = params.id!;
  const tenant = await attempt(() => context.services.tenants.get(viewer, id));
  if (!tenant.ok) throw new Response(tenant.error, { status: tenant.status });
  const log = await attempt(() => context.services.backups.log(viewer, id));
  return {
    csrf: context.csrf,
    now: Date.now(),
    canWrite: canWriteTenant(viewer, id) && viewer.role !== 'auditor',
    tenant: { id, displayName: tenant.value.displayName, workspace: tenant.value.workspace },
    log: log.ok ? log.value : null,
    error: log.ok ? null : log.error,
  };
}

export async function action({ context, request, params }: ActionFunctionArgs) {
  const viewer = requireViewer(context, request);
  const id = params.id!;
  const form = await request.formData();
  switch (form.get('intent')) {
    case 'backup-now': {
      const r = await attempt(() => context.services.backups.backupNow(viewer, id, context.client));
      return r.ok
        ? { ok: `Backup ${r.value} asked for: the operator runs it now; it appears below as it goes.` }
        : { error: r.error, fields: r.fields };
    }
    case 'restore': {
      const backup = field(form, 'backup');
      const r = await attempt(() =>
        context.services.backups.restore(viewer, id, backup, field(form, 'confirm'), context.client),
      );
      return r.ok
        ? { ok: `Restore ${r.value} created: a safety backup of the current data comes first, then the restore.` }
        : { error: r.error, fields: r.fields, backup };
    }
    default:
      return { error: 'Unknown action; reload the page.' };
  }
}

const TERMINAL = new Set(['Succeeded', 'Failed']);

function phaseTone(phase: string) {
  if (phase === 'Succeeded') return 'ok' as const;
  if (phase === 'Failed') return 'bad' as const;
  return 'idle' as const;
}

/** "0.5 s", "12 s" */
function seconds(v: number): string {
  return `${Number.isInteger(v) ? v : v.toFixed(1)} s`;
}

export default function BackupLogPage() {
  const { csrf, now, canWrite, tenant, log, error } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  const revalidator = useRevalidator();
  const busy = log
    ? log.restores.some((r) => !TERMINAL.has(r.phase)) || log.backups.some((b) => !TERMINAL.has(b.phase))
    : false;
  // While a backup or restore runs, the page follows it.
  useEffect(() => {
    if (!busy) return;
    const timer = setInterval(() => {
      if (revalidator.state === 'idle') revalidator.revalidate();
    }, 3000);
    return () => clearInterval(timer);
  }, [busy, revalidator]);
  const errors: Record<string, string> = (result && 'fields' in result ? result.fields : undefined) ?? {};
  const from = now - 30 * DAY;
  const recent = (log?.backups ?? []).filter(
    (b) => b.phase === 'Succeeded' && b.completedAt && Date.parse(b.completedAt) >= from,
  );
  const drills = drillPoints(log?.backups ?? [], now - 90 * DAY);
  const completed = (log?.backups ?? [])
    .filter((b) => b.phase === 'Succeeded' && b.completedAt)
    .map((b) => Date.parse(b.completedAt!));
  return (
    <>
      <div className="page-head">
        <h1>Backups of {tenant.displayName}</h1>
        <p className="muted">
          <Link to={`/tenants/${tenant.id}`}>Tenant {tenant.id}</Link> · workspace <code>{tenant.workspace}</code>
          {log ? (
            <>
              {' '}
              · <code>kubectl get backups -n {log.namespace}</code>
            </>
          ) : null}
        </p>
      </div>
      {error ? <Notice kind="error">{error}</Notice> : null}
      {result && 'error' in result && result.error ? <Notice kind="error">{result.error}</Notice> : null}
      {result && 'ok' in result && result.ok ? <Notice kind="ok">{result.ok}</Notice> : null}
      {log ? (
        <>
          <section className="panel" aria-labelledby="timeline">
            <h2 id="timeline">What retention keeps</h2>
            <p className="muted small">
              Keeps {log.retention.hourly} hourly, {log.retention.daily} daily, {log.retention.weekly} weekly,{' '}
              {log.retention.monthly} monthly, {log.retention.yearly} yearly; backups at <code>{log.schedule}</code>{' '}
              (UTC). Change it on the <Link to={`/tenants/${tenant.id}#backups`}>tenant's page</Link>, which previews
              what a change would prune.
            </p>
            <BackupTimeline backups={log.backups} now={now} />
          </section>
          <section className="panel" aria-labelledby="charts">
            <h2 id="charts">The last 30 days</h2>
            <div className="charts">
              <SeriesChart
                title="Recovery point: the age of the newest good backup (hours)"
                points={recoveryPoints(completed, from, now)}
                unit={(v) => `${v.toFixed(0)} h`}
                from={from}
                to={now}
                goal={{ value: 26, label: '26 h: a daily backup missed' }}
              />
              <SeriesChart
                title="Backup size"
                points={recent.map((b) => ({ at: Date.parse(b.completedAt!), value: b.size ?? 0 }))}
                unit={formatBytes}
                base={1024}
                from={from}
                to={now}
                bars
              />
              <SeriesChart
                title="Backup duration (seconds)"
                points={recent.map((b) => ({ at: Date.parse(b.completedAt!), value: b.durationSeconds ?? 0 }))}
                unit={seconds}
                from={from}
                to={now}
                bars
              />
              <SeriesChart
                title={`Restore drills of the last 90 days: duration (seconds), green passed, red failed (${drills.filter((d) => d.tone === 'failed').length} failed of ${drills.length})`}
                points={drills}
                unit={seconds}
                from={now - 90 * DAY}
                to={now}
                bars
              />
            </div>
          </section>
          {log.restores.length > 0 ? (
            <section className="panel" aria-labelledby="restores">
              <h2 id="restores">Restores</h2>
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Restore</th>
                      <th scope="col">Backup</th>
                      <th scope="col">Status</th>
                      <th scope="col">Asked</th>
                      <th scope="col">Safety backup</th>
                    </tr>
                  </thead>
                  <tbody>
                    {log.restores.map((r) => (
                      <tr key={r.name} data-restore={r.name}>
                        <td>
                          <code>{r.name}</code>
                        </td>
                        <td>
                          <code>{r.backup}</code>
                        </td>
                        <td className="wrap">
                          <Badge tone={phaseTone(r.phase)}>{r.phase}</Badge>
                          {r.message ? <small className="muted"> {r.message}</small> : null}
                        </td>
                        <td>{when(r.createdAt)}</td>
                        <td>{r.safetyBackup ? <code>{r.safetyBackup}</code> : '—'}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </section>
          ) : null}
          <section className="panel" aria-labelledby="log">
            <h2 id="log">Backup log</h2>
            {canWrite ? (
              <Form method="post" className="row">
                <Csrf token={csrf} />
                <button type="submit" name="intent" value="backup-now" className="primary">
                  Back up now
                </button>
                <small className="muted">
                  Outside the schedule; kept by retention like any other (always while it is the newest).
                </small>
              </Form>
            ) : null}
            {log.backups.length === 0 ? (
              <p className="empty">No backups yet.</p>
            ) : (
              <div className="table-wrap">
                <table>
                  <caption className="sr-only">Every Backup of the workspace, newest first</caption>
                  <thead>
                    <tr>
                      <th scope="col">Completed</th>
                      <th scope="col">Status</th>
                      <th scope="col">Reason</th>
                      <th scope="col" className="num">
                        Size
                      </th>
                      <th scope="col" className="num">
                        Took
                      </th>
                      <th scope="col">Kept for</th>
                      <th scope="col">Drill</th>
                      <th scope="col">Copies</th>
                      <th scope="col">
                        <span className="sr-only">Restore</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {log.backups.map((b) => (
                      <tr key={b.name} data-backup={b.name}>
                        <td>
                          {when(b.completedAt ?? b.startedAt)}
                          <br />
                          <small className="muted">
                            <code>{b.name}</code>
                          </small>
                        </td>
                        <td>
                          <Badge tone={phaseTone(b.phase)}>{b.phase}</Badge>
                          {b.phase === 'Failed' && b.message ? <small className="problems"> {b.message}</small> : null}
                        </td>
                        <td>{b.reason}</td>
                        <td className="num">{b.sizeText ?? (b.size !== undefined ? formatBytes(b.size) : '—')}</td>
                        <td className="num">{b.durationSeconds !== undefined ? `${b.durationSeconds} s` : '—'}</td>
                        <td className="words">
                          {b.keptFor.length ? b.keptFor.join(', ') : b.phase === 'Succeeded' ? 'pruned next' : '—'}
                        </td>
                        <td>
                          <Badge tone={b.verified === 'passed' ? 'ok' : b.verified === 'failed' ? 'bad' : 'idle'}>
                            {b.verified === 'never' ? 'not yet' : b.verified}
                          </Badge>
                        </td>
                        <td className="words">
                          {b.copies.length
                            ? b.copies.map((c, i) => (
                                <span key={c.destination}>
                                  {i > 0 ? ', ' : ''}
                                  {c.destination}: {c.phase}
                                  {canWrite && c.phase === 'Stored' ? (
                                    <>
                                      {' '}
                                      <a
                                        href={`/tenants/${tenant.id}/backups/${b.name}/artifact?destination=${encodeURIComponent(c.destination)}`}
                                        download
                                        title="The artifact as stored: age-encrypted, for your own key"
                                      >
                                        download
                                      </a>
                                    </>
                                  ) : null}
                                </span>
                              ))
                            : '—'}
                        </td>
                        <td>
                          {canWrite && b.phase === 'Succeeded' ? (
                            <details open={result && 'backup' in result && result.backup === b.name}>
                              <summary>Restore…</summary>
                              <Form method="post" className="confirm">
                                <Csrf token={csrf} />
                                <input type="hidden" name="backup" value={b.name} />
                                <p className="small">
                                  Replaces database <code>{log.database}</code> of workspace{' '}
                                  <code>{log.workspace}</code> with this backup from {when(b.completedAt)}. Everything
                                  written since is replaced; a safety backup of it is taken first and kept.
                                </p>
                                <Field
                                  label={`Type ${log.workspace} to confirm`}
                                  name="confirm"
                                  id={`f-confirm-${b.name}`}
                                  autoComplete="off"
                                  error={
                                    result && 'backup' in result && result.backup === b.name
                                      ? errors['confirm']
                                      : undefined
                                  }
                                />
                                <button type="submit" name="intent" value="restore" className="danger">
                                  Restore this backup
                                </button>
                              </Form>
                            </details>
                          ) : null}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>
        </>
      ) : null}
    </>
  );
}
