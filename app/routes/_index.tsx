import { redirect, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, Link, useActionData, useLoaderData, useNavigation } from '@remix-run/react';
import { OVERVIEW_SORTS, overview, type OverviewSort } from '../console.server';
import { Csrf, Field, Notice, Select } from '../components/forms';
import { Badge, Pager, SortHeader, when } from '../components/table';
import { attempt, field, requireViewer } from '../session.server';

export const meta: MetaFunction = () => [{ title: 'Workspaces · Holdfast' }];

export async function loader({ context, request }: LoaderFunctionArgs) {
  const viewer = requireViewer(context, request);
  const q = new URL(request.url).searchParams;
  const sort = (OVERVIEW_SORTS as readonly string[]).includes(q.get('sort') ?? '')
    ? (q.get('sort') as OverviewSort)
    : 'name';
  const statuses = await context.services.workspaces?.all();
  const page = overview(
    await context.services.tenants.index(),
    viewer,
    {
      sort,
      desc: q.get('desc') === 'true',
      page: Number(q.get('page') ?? 1) || 1,
      pageSize: 25,
      q: q.get('q') ?? '',
      problems: q.get('problems') === 'on',
    },
    statuses,
  );
  const claimed =
    viewer.role === 'platform-admin' && statuses ? await context.services.tenants.workspaceNames(viewer) : undefined;
  const unassigned = claimed
    ? [...statuses!.values()].filter((w) => !claimed.has(w.name)).sort((a, b) => a.name.localeCompare(b.name))
    : [];
  const choices =
    viewer.role === 'platform-admin' && context.services.workspaces
      ? await context.services.workspaces.choices()
      : { storageClasses: [], sharedServers: [], destinations: [] };
  return {
    // A long list of strays is shown in part; the count says how many.
    unassigned: unassigned.slice(0, 50),
    unassignedTotal: unassigned.length,
    choices,
    csrf: context.csrf,
    canCreate: viewer.role === 'platform-admin',
    connected: statuses !== undefined,
    filter: { q: q.get('q') ?? '', problems: q.get('problems') === 'on' },
    page,
  };
}

export async function action({ context, request }: ActionFunctionArgs) {
  const viewer = requireViewer(context, request);
  const form = await request.formData();
  const id = field(form, 'id').trim();
  const displayName = field(form, 'displayName').trim();
  // A Workspace that exists without a tenant gets one; otherwise the tenant comes with a new Workspace.
  const result =
    form.get('intent') === 'attach'
      ? await attempt(() => context.services.tenants.create(viewer, { id, displayName, workspace: id }, context.client))
      : await attempt(async () => {
          const optional = (name: string) => field(form, name).trim() || undefined;
          const made = await context.services.tenantWorkspaces.create(
            viewer,
            {
              id,
              displayName,
              ...(optional('workspace') ? { workspace: optional('workspace') } : {}),
              workspaceSpec: {
                databaseMode: field(form, 'spec.database.mode') === 'Shared' ? 'Shared' : 'Dedicated',
                serverRef: optional('spec.database.serverRef'),
                storageClassName: optional('spec.volume.storageClassName'),
                volumeSize: optional('spec.volume.size'),
              },
            },
            context.client,
          );
          return made.tenant;
        });
  if (!result.ok) return { error: result.error, fields: result.fields };
  throw redirect(`/tenants/${result.value.id}`);
}

function phaseTone(phase: string, ready: boolean) {
  if (ready) return 'ok' as const;
  if (phase === 'Degraded' || phase === 'Failed') return 'bad' as const;
  return phase === 'Pending' || phase === 'Provisioning' ? ('idle' as const) : ('warn' as const);
}

export default function Dashboard() {
  const { csrf, canCreate, connected, page, unassigned, unassignedTotal, choices, filter } =
    useLoaderData<typeof loader>();
  const failed = useActionData<typeof action>();
  const errors: Record<string, string> = failed?.fields ?? {};
  const busy = useNavigation().state === 'submitting';
  return (
    <>
      <div className="page-head">
        <h1>Workspaces</h1>
        <p className="muted">
          Each tenant has one workspace on this cluster: its own database, encrypted volume and certificates.
        </p>
      </div>
      {!connected ? (
        <Notice kind="info">
          The console cannot reach the Kubernetes API, so workspace status is not shown. Check the console's service
          account and the cluster's network policy.
        </Notice>
      ) : null}
      <Form method="get" className="inline filter" role="search">
        <div className="field">
          <label htmlFor="f-q">Find</label>
          <input id="f-q" name="q" type="search" defaultValue={filter.q} placeholder="Tenant, id or workspace" />
        </div>
        <div className="check">
          <input id="f-problems" type="checkbox" name="problems" defaultChecked={filter.problems} />
          <label htmlFor="f-problems">Needs attention only</label>
        </div>
        <button type="submit">Filter</button>
      </Form>
      {page.total === 0 && !filter.q && !filter.problems ? (
        <div className="empty">
          <h2>No tenants yet</h2>
          <p>
            {canCreate
              ? 'Create the first tenant below: the console creates its Workspace. A Workspace made with kubectl or GitOps shows up here too, and gets a tenant with one click.'
              : 'Your account is not a member of any tenant yet. Ask a platform administrator.'}
          </p>
        </div>
      ) : (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">Tenants and the health of their workspaces</caption>
            <thead>
              <tr>
                <SortHeader column="name">Tenant</SortHeader>
                <SortHeader column="status">Status</SortHeader>
                <SortHeader column="backup">Last backup</SortHeader>
                <SortHeader column="drill">Last drill</SortHeader>
                <SortHeader column="certificate">Certificate expires</SortHeader>
                <th scope="col">Sign-in</th>
                <th scope="col" className="num">
                  Users
                </th>
                <SortHeader column="created">Created</SortHeader>
              </tr>
            </thead>
            <tbody>
              {page.items.map((t) => (
                <tr key={t.id}>
                  <td>
                    <Link to={`/tenants/${t.id}`}>{t.displayName}</Link>
                    <br />
                    <small className="muted">
                      <code>{t.id}</code>
                      {t.workspace !== t.id ? (
                        <>
                          {' '}
                          · workspace <code>{t.workspace}</code>
                        </>
                      ) : null}
                    </small>
                  </td>
                  <td>
                    {t.status ? (
                      <span title={t.status.message}>
                        <Badge tone={phaseTone(t.status.phase, t.status.ready)}>
                          {t.status.ready ? 'Ready' : t.status.phase}
                        </Badge>
                      </span>
                    ) : (
                      <Badge tone="idle">{connected ? 'No workspace' : 'Unknown'}</Badge>
                    )}
                    {t.problems.length ? <small className="problems"> {t.problems.join(' · ')}</small> : null}
                  </td>
                  <td>{when(t.status?.lastBackup)}</td>
                  <td>{when(t.status?.lastVerified)}</td>
                  <td>{when(t.status?.certificateExpiry)}</td>
                  <td>{[t.sso || 'Password', t.totpRequired ? '2FA required' : ''].filter(Boolean).join(' · ')}</td>
                  <td className="num">{t.users}</td>
                  <td>{when(t.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {page.total === 0 ? <p className="empty">No tenant matches this filter.</p> : null}
          <Pager page={page.page} pageSize={page.pageSize} total={page.total} label="Tenants" />
        </div>
      )}
      {unassigned.length > 0 ? (
        <section className="panel" aria-labelledby="unassigned">
          <h2 id="unassigned">Workspaces without a tenant</h2>
          <p className="muted small">
            These Workspaces exist on the cluster but nobody can manage them in the console yet
            {unassignedTotal > unassigned.length ? ` (the first ${unassigned.length} of ${unassignedTotal})` : ''}.
          </p>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Workspace</th>
                  <th scope="col">Status</th>
                  <th scope="col">Database</th>
                  <th scope="col">
                    <span className="sr-only">Action</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {unassigned.map((w) => (
                  <tr key={w.name}>
                    <td>
                      <code>{w.name}</code>
                    </td>
                    <td>
                      <span title={w.message}>
                        <Badge tone={phaseTone(w.phase, w.ready)}>{w.ready ? 'Ready' : w.phase}</Badge>
                      </span>
                    </td>
                    <td>{w.databaseMode}</td>
                    <td>
                      <Form method="post">
                        <Csrf token={csrf} />
                        <input type="hidden" name="intent" value="attach" />
                        <input type="hidden" name="id" value={w.name} />
                        <input type="hidden" name="displayName" value={w.name} />
                        <button type="submit">
                          Create tenant <span className="sr-only">{w.name}</span>
                        </button>
                      </Form>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      ) : null}
      {canCreate ? (
        <section className="panel" aria-labelledby="new-tenant">
          <h2 id="new-tenant">New tenant</h2>
          {failed?.error ? <Notice kind="error">{failed.error}</Notice> : null}
          <p className="muted small">
            The tenant gets a Workspace of its own: a namespace, a database and an encrypted volume, backed up on the
            default schedule. Its backup and retention settings are on the tenant's page.
          </p>
          <Form method="post">
            <Csrf token={csrf} />
            <div className="grid-fields">
              <Field label="Id" name="id" required hint="Lower case, digits and -, e.g. acme" error={errors['id']} />
              <Field label="Name" name="displayName" required hint="Shown to people, e.g. Acme Corp" />
              <Field
                label="Workspace"
                name="workspace"
                hint="Defaults to the id"
                error={errors['workspace'] ?? errors['metadata.name']}
              />
              <Select
                label="Database"
                name="spec.database.mode"
                options={[
                  { value: 'Dedicated', label: 'Dedicated server' },
                  ...(choices.sharedServers.length ? [{ value: 'Shared', label: 'On a shared server' }] : []),
                ]}
                error={errors['spec.database.mode'] ?? errors['spec.database']}
              />
              {choices.sharedServers.length ? (
                <Select
                  label="Shared server"
                  name="spec.database.serverRef"
                  options={[{ value: '', label: '—' }, ...choices.sharedServers]}
                  hint="For a database on a shared server"
                  error={errors['spec.database.serverRef']}
                />
              ) : null}
              <Select
                label="Storage class"
                name="spec.volume.storageClassName"
                options={[{ value: '', label: 'Cluster default' }, ...choices.storageClasses]}
                error={errors['spec.volume.storageClassName'] ?? errors['spec.volume']}
              />
              <Field
                label="Volume size"
                name="spec.volume.size"
                hint="Default 10Gi; it can grow later, never shrink"
                error={errors['spec.volume.size']}
              />
            </div>
            <button type="submit" className="primary" disabled={busy}>
              Create tenant
            </button>
          </Form>
        </section>
      ) : null}
    </>
  );
}
