// The tenant page's Workspace panels: live status (conditions and Events,
// streamed), and the backup and retention settings with a preview of what
// they keep, computed by the operator's own retention planner.
import { useEffect, useMemo, useState } from 'react';
import { Form } from '@remix-run/react';
import { keptBy, type BackupRow } from '../../console/tenants/backup-rows';
import { retentionSummary } from '../../console/tenants/retention-preview';
import { BackupTimeline } from './charts';
import type { WorkspaceEvent, WorkspaceStatusView } from '../../console/workspaces';
import { Csrf, Field, FieldError } from './forms';
import { Badge, when } from './table';

export function useLiveWorkspace(tenantId: string, initial: { status: WorkspaceStatusView; events: WorkspaceEvent[] }) {
  const [status, setStatus] = useState(initial.status);
  const [events, setEvents] = useState(initial.events);
  const [live, setLive] = useState(false);
  useEffect(() => {
    setStatus(initial.status);
    setEvents(initial.events);
  }, [initial.status, initial.events]);
  useEffect(() => {
    const source = new EventSource(`/tenants/${encodeURIComponent(tenantId)}/live`);
    source.addEventListener('open', () => setLive(true));
    source.addEventListener('error', () => setLive(false));
    source.addEventListener('status', (e) =>
      setStatus(JSON.parse((e as MessageEvent<string>).data) as WorkspaceStatusView),
    );
    source.addEventListener('events', (e) =>
      setEvents(JSON.parse((e as MessageEvent<string>).data) as WorkspaceEvent[]),
    );
    return () => source.close();
  }, [tenantId]);
  return { status, events, live };
}

export function statusTone(s: WorkspaceStatusView) {
  if (s.ready) return 'ok' as const;
  if (s.phase === 'Degraded' || s.phase === 'Deleted') return 'bad' as const;
  return s.phase === 'Pending' || s.phase === 'Provisioning' ? ('idle' as const) : ('warn' as const);
}

export function WorkspaceStatusPanel(props: {
  name: string;
  status: WorkspaceStatusView;
  events: WorkspaceEvent[];
  live: boolean;
}) {
  const { status, events } = props;
  return (
    <section className="panel" aria-labelledby="ws-status">
      <h2 id="ws-status">
        Workspace <code>{props.name}</code>{' '}
        <span data-testid="workspace-phase">
          <Badge tone={statusTone(status)}>{status.ready ? 'Ready' : status.phase}</Badge>
        </span>
        {status.suspended ? (
          <>
            {' '}
            <Badge tone="warn">Suspended</Badge>
          </>
        ) : null}
      </h2>
      <p className="live" aria-live="polite">
        {props.live ? 'Live: updates as the operator works.' : 'Not live: reload for the newest state.'}
        {status.exists && !status.current ? ' The operator has not yet acted on the newest change.' : ''}
      </p>
      {status.conditions.length === 0 ? (
        <p className="muted">{status.exists ? 'No conditions yet: the operator has not seen it.' : 'No Workspace.'}</p>
      ) : (
        <div className="table-wrap">
          <table className="conditions">
            <caption className="sr-only">Conditions of the Workspace</caption>
            <thead>
              <tr>
                <th scope="col">Condition</th>
                <th scope="col">Status</th>
                <th scope="col">Reason</th>
                <th scope="col">Message</th>
                <th scope="col">Since</th>
              </tr>
            </thead>
            <tbody>
              {status.conditions.map((c) => (
                <tr key={c.type} data-condition={c.type}>
                  <td>{c.type}</td>
                  <td>
                    <Badge tone={c.status === 'True' ? 'ok' : c.status === 'False' ? 'warn' : 'idle'}>{c.status}</Badge>
                  </td>
                  <td>{c.reason}</td>
                  <td>{c.message}</td>
                  <td>{when(c.since)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h3>Events</h3>
      {events.length === 0 ? (
        <p className="muted small">No recent Events.</p>
      ) : (
        <ul className="events" aria-label="Events of the Workspace">
          {events.map((e, i) => (
            <li key={`${e.at}-${e.reason}-${i}`}>
              <Badge tone={e.type === 'Warning' ? 'bad' : 'idle'}>{e.type}</Badge> <strong>{e.reason}</strong>{' '}
              {e.message} <small className="muted">{when(e.at)}</small>
              {e.count > 1 ? <small className="muted"> ×{e.count}</small> : null}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

type Value = string | number | boolean | string[] | { name: string }[] | undefined;
type Values = Record<string, Value>;

const TIER_FIELDS = [
  ['hourly', 'Hourly'],
  ['daily', 'Daily'],
  ['weekly', 'Weekly'],
  ['monthly', 'Monthly'],
  ['yearly', 'Yearly'],
] as const;

function text(v: Value): string | undefined {
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : x.name)).join('\n');
  return String(v);
}

/** "set by kubectl-edit": shown under a field another manager set last. */
function elsewhere(setElsewhere: Record<string, string>, path: string): string | undefined {
  const m = setElsewhere[path];
  return m ? `Last set by ${m}; saving a different value needs "Overwrite changes made elsewhere".` : undefined;
}

export function BackupSettingsForm(props: {
  csrf: string;
  disabled: boolean;
  values: Values;
  setElsewhere: Record<string, string>;
  errors: Record<string, string>;
  destinations: string[];
  backupBytes: number | undefined;
  /** The backup log, for the timeline of what the edited tiers would keep. */
  backups: readonly BackupRow[];
  now: number;
  /** What deleting the workspace does to its data: platform administrators set it. */
  deletionLocked: boolean;
}) {
  const { values, errors, setElsewhere } = props;
  const [schedule, setSchedule] = useState(text(values['spec.backup.schedule']) ?? '0 4 * * *');
  const [tiers, setTiers] = useState<Record<string, string>>(
    Object.fromEntries(TIER_FIELDS.map(([t]) => [t, text(values[`spec.backup.retention.${t}`]) ?? '0'])),
  );
  const preview = useMemo(() => {
    const retention = Object.fromEntries(TIER_FIELDS.map(([t]) => [t, Number(tiers[t]) || 0]));
    return retentionSummary(schedule, retention, props.backupBytes || undefined, props.now);
  }, [schedule, tiers, props.backupBytes, props.now]);
  const edited = TIER_FIELDS.some(([t]) => tiers[t] !== (text(values[`spec.backup.retention.${t}`]) ?? '0'));
  const keptNext = useMemo(
    () =>
      edited
        ? keptBy(
            props.backups,
            Object.fromEntries(TIER_FIELDS.map(([t]) => [t, Number(tiers[t]) || 0])),
            // A backup a Restore needs stays whatever the tiers say, as the operator keeps it.
            new Set(props.backups.filter((b) => b.keptFor.includes('restore')).map((b) => b.name)),
          )
        : undefined,
    [edited, tiers, props.backups],
  );
  const chosen = new Set(
    ((values['spec.backup.destinations'] as { name: string }[] | undefined) ?? []).map((d) => d.name),
  );
  const hint = (path: string, own?: string) => elsewhere(setElsewhere, path) ?? own;
  return (
    <section className="panel" aria-labelledby="backups">
      <h2 id="backups">Backups and retention</h2>
      <Form method="post">
        <Csrf token={props.csrf} />
        <fieldset disabled={props.disabled}>
          <div className="grid-fields">
            <Field
              label="Backup schedule"
              name="spec.backup.schedule"
              defaultValue={text(values['spec.backup.schedule'])}
              hint={hint('spec.backup.schedule', 'cron, UTC, e.g. 0 * * * * for hourly')}
              error={errors['spec.backup.schedule']}
              onChange={setSchedule}
            />
            <Field
              label="Restore drill schedule"
              name="spec.backup.verify.schedule"
              defaultValue={text(values['spec.backup.verify.schedule'])}
              hint={hint('spec.backup.verify.schedule', 'cron, UTC; a drill restores the newest backup')}
              error={errors['spec.backup.verify.schedule']}
            />
          </div>
          <fieldset className="group" aria-describedby="retention-preview">
            <legend>Keep (grandfather-father-son)</legend>
            <FieldError id="f-retention-error" error={errors['spec.backup.retention']} />
            <div className="grid-fields">
              {TIER_FIELDS.map(([tier, label]) => (
                <Field
                  key={tier}
                  label={label}
                  name={`spec.backup.retention.${tier}`}
                  type="number"
                  inputMode="numeric"
                  defaultValue={text(values[`spec.backup.retention.${tier}`])}
                  hint={elsewhere(setElsewhere, `spec.backup.retention.${tier}`)}
                  error={errors[`spec.backup.retention.${tier}`]}
                  onChange={(v) => setTiers((t) => ({ ...t, [tier]: v }))}
                />
              ))}
            </div>
            <p id="retention-preview" className="preview" data-testid="retention-preview">
              This {preview}.
            </p>
            {props.backups.length > 0 ? (
              <BackupTimeline backups={props.backups} now={props.now} preview={keptNext} />
            ) : null}
          </fieldset>
          {props.destinations.length > 0 ? (
            <fieldset className="group">
              <legend>Off-site copies</legend>
              <FieldError id="f-destinations-error" error={errors['spec.backup.destinations']} />
              {props.destinations.map((d) => (
                <div className="check" key={d}>
                  <input
                    id={`f-dest-${d}`}
                    type="checkbox"
                    name="spec.backup.destinations"
                    value={d}
                    defaultChecked={chosen.has(d)}
                  />
                  <label htmlFor={`f-dest-${d}`}>{d}</label>
                </div>
              ))}
              <input type="hidden" name="spec.backup.destinations" value="" />
            </fieldset>
          ) : null}
          <div className="field">
            <label htmlFor="f-recipients">Escrow recipients</label>
            <textarea
              id="f-recipients"
              name="spec.backup.recipients"
              rows={2}
              defaultValue={text(values['spec.backup.recipients'])}
              aria-invalid={errors['spec.backup.recipients'] ? true : undefined}
              aria-describedby="f-recipients-error f-recipients-hint"
            />
            <FieldError id="f-recipients-error" error={errors['spec.backup.recipients']} />
            <small id="f-recipients-hint">
              {hint(
                'spec.backup.recipients',
                'age public keys (age1…) or SSH keys, one per line: every backup is also encrypted to them',
              )}
            </small>
          </div>
          <div className="grid-fields">
            <Field
              label="Export schedule"
              name="spec.backup.export.schedule"
              defaultValue={text(values['spec.backup.export.schedule'])}
              hint={hint('spec.backup.export.schedule', 'Excel-compatible export, cron, UTC')}
              error={errors['spec.backup.export.schedule']}
            />
            <Field
              label="Keep exports (days)"
              name="spec.backup.export.retentionDays"
              type="number"
              inputMode="numeric"
              defaultValue={text(values['spec.backup.export.retentionDays'])}
              hint={elsewhere(setElsewhere, 'spec.backup.export.retentionDays')}
              error={errors['spec.backup.export.retentionDays']}
            />
            <div className={errors['spec.deletionPolicy'] ? 'field invalid' : 'field'}>
              <label htmlFor="f-deletion">When the workspace is deleted</label>
              <select
                id="f-deletion"
                name="spec.deletionPolicy"
                defaultValue={text(values['spec.deletionPolicy'])}
                disabled={props.deletionLocked}
              >
                <option value="Snapshot">Snapshot</option>
                <option value="Retain">Retain</option>
                <option value="Delete">Delete</option>
              </select>
              <FieldError id="f-deletion-error" error={errors['spec.deletionPolicy']} />
              <small>
                {hint(
                  'spec.deletionPolicy',
                  'Snapshot: a final backup, then the data goes; Retain: the data stays; Delete: the data goes' +
                    (props.deletionLocked ? ' (set by a platform administrator)' : ''),
                )}
              </small>
            </div>
            <Field
              label="Keep the final backup"
              name="spec.retention.afterDeletion"
              defaultValue={text(values['spec.retention.afterDeletion'])}
              hint={hint(
                'spec.retention.afterDeletion',
                'e.g. 8760h (a year)' + (props.deletionLocked ? '; set by a platform administrator' : ''),
              )}
              error={errors['spec.retention.afterDeletion']}
              disabled={props.deletionLocked}
            />
          </div>
          <div className="check">
            <input id="f-force" type="checkbox" name="force" />
            <label htmlFor="f-force">Overwrite changes made elsewhere (kubectl, GitOps)</label>
          </div>
          <button type="submit" name="intent" value="workspace" className="primary">
            Save backup settings
          </button>
        </fieldset>
      </Form>
    </section>
  );
}

/** Suspend or resume the workspace, and delete the tenant: platform administrators only. */
export function LifecyclePanel(props: {
  csrf: string;
  tenantId: string;
  /** undefined: there is no Workspace to suspend. */
  suspended: boolean | undefined;
  /** The tenant's Workspace, when there is one: what deleting the tenant does to it. */
  workspace: { name: string; deletionPolicy: string; createdHere: boolean } | undefined;
  confirmError: string | undefined;
}) {
  const { csrf, suspended, workspace } = props;
  return (
    <section className="panel danger" aria-labelledby="lifecycle">
      <h2 id="lifecycle">Suspend or delete</h2>
      {suspended !== undefined ? (
        <Form method="post" className="row">
          <Csrf token={csrf} />
          <p className="muted small">
            {suspended
              ? 'Suspended: the operator changes nothing and takes no backups.'
              : 'Suspending stops every change and every backup, and deletes nothing.'}
          </p>
          <button type="submit" name="intent" value={suspended ? 'resume' : 'suspend'}>
            {suspended ? 'Resume workspace' : 'Suspend workspace'}
          </button>
        </Form>
      ) : null}
      <Form method="post">
        <Csrf token={csrf} />
        <input type="hidden" name="deletionPolicy" value={workspace?.deletionPolicy ?? ''} />
        <p className="muted small">
          <DeletionConsequence workspace={workspace} /> The audit log keeps everything they did.
        </p>
        <Field
          label={`Type ${props.tenantId} to confirm`}
          name="confirm"
          autoComplete="off"
          error={props.confirmError}
        />
        <button type="submit" name="intent" value="delete" className="danger">
          Delete tenant
        </button>
      </Form>
    </section>
  );
}

function DeletionConsequence(props: {
  workspace: { name: string; deletionPolicy: string; createdHere: boolean } | undefined;
}) {
  const ws = props.workspace;
  if (!ws) return <>Deleting the tenant deletes its people.</>;
  if (!ws.createdHere)
    return (
      <>
        Deleting the tenant deletes its people. Its Workspace <code>{ws.name}</code> was made outside the console and
        stays on the cluster with its data; delete it with kubectl if it should go.
      </>
    );
  const policy = ws.deletionPolicy || 'Snapshot';
  return (
    <>
      Deleting the tenant deletes its people and its Workspace <code>{ws.name}</code>, whose deletion policy is{' '}
      <strong>{policy}</strong>
      {policy === 'Delete'
        ? ': its data is deleted with it.'
        : policy === 'Snapshot'
          ? ': a final backup is taken and kept, then the data is deleted.'
          : ': its data is kept.'}
    </>
  );
}
