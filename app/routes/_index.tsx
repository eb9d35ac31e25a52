import { redirect, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, Link, useActionData, useLoaderData, useNavigation } from '@remix-run/react';
import { TENANT_SORTS, type TenantSort } from '../console.server';
import { Csrf, Field, Notice } from '../components/forms';
import { Badge, Pager, SortHeader, when } from '../components/table';
import { attempt, field, requireViewer } from '../session.server';

export const meta: MetaFunction = () => [{ title: 'Workspaces · Holdfast' }];

export async function loader({ context, request }: LoaderFunctionArgs) {
  const viewer = requireViewer(context, request);
  const q = new URL(request.url).searchParams;
  const sort = (q.get('sort') ?? 'name') in TENANT_SORTS ? ((q.get('sort') ?? 'name') as TenantSort) : 'name';
  const page = await context.services.tenants.list(viewer, {
    sort,
    desc: q.get('desc') === 'true',
    page: Number(q.get('page') ?? 1) || 1,
    pageSize: 20,
  });
  const statuses = await context.services.workspaces?.all();
  const claimed =
    viewer.role === 'platform-admin' && statuses ? await context.services.tenants.workspaceNames(viewer) : undefined;
  const unassigned = claimed
    ? [...statuses!.values()].filter((w) => !claimed.has(w.name)).sort((a, b) => a.name.localeCompare(b.name))
    : [];
  return {
    unassigned,
    csrf: context.csrf,
    canCreate: viewer.role === 'platform-admin',
    connected: statuses !== undefined,
    page: {
      ...page,
      items: page.items.map((t) => ({
        id: t.id,
        displayName: t.displayName,
        workspace: t.workspace,
        users: t.userCount,
        sso: [t.oidc ? 'OIDC' : '', t.saml ? 'SAML' : ''].filter(Boolean).join(', '),
        totpRequired: t.totpRequired,
        createdAt: t.createdAt.toISOString(),
        status: statuses?.get(t.workspace) ?? null,
      })),
    },
  };
}

export async function action({ context, request }: ActionFunctionArgs) {
  const viewer = requireViewer(context, request);
  const form = await request.formData();
  const result = await attempt(() =>
    context.services.tenants.create(
      viewer,
      {
        id: field(form, 'id').trim(),
        displayName: field(form, 'displayName').trim(),
        ...(form.get('workspace') ? { workspace: field(form, 'workspace').trim() } : {}),
      },
      context.client,
    ),
  );
  if (!result.ok) return { error: result.error };
  throw redirect(`/tenants/${result.value.id}`);
}

function phaseTone(phase: string, ready: boolean) {
  if (ready) return 'ok' as const;
  if (phase === 'Degraded' || phase === 'Failed') return 'bad' as const;
  return phase === 'Pending' || phase === 'Provisioning' ? ('idle' as const) : ('warn' as const);
}

export default function Dashboard() {
  const { csrf, canCreate, connected, page, unassigned } = useLoaderData<typeof loader>();
  const failed = useActionData<typeof action>();
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
      {page.total === 0 ? (
        <div className="empty">
          <h2>No tenants yet</h2>
          <p>
            {canCreate
              ? 'Create the first tenant below. It maps to the Workspace of the same name, which kubectl or GitOps creates.'
              : 'Your account is not a member of any tenant yet. Ask a platform administrator.'}
          </p>
        </div>
      ) : (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">Tenants and the status of their workspaces</caption>
            <thead>
              <tr>
                <SortHeader column="name">Tenant</SortHeader>
                <SortHeader column="id">Id</SortHeader>
                <th scope="col">Workspace</th>
                <th scope="col">Status</th>
                <th scope="col">Database</th>
                <th scope="col">Last backup</th>
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
                  </td>
                  <td>
                    <code>{t.id}</code>
                  </td>
                  <td>
                    <code>{t.workspace}</code>
                  </td>
                  <td>
                    {t.status ? (
                      <span title={t.status.message}>
                        <Badge tone={phaseTone(t.status.phase, t.status.ready)}>
                          {t.status.ready ? 'Ready' : t.status.phase}
                        </Badge>
                        {!t.status.ready && t.status.reason ? (
                          <small className="muted"> {t.status.reason}</small>
                        ) : null}
                      </span>
                    ) : (
                      <Badge tone="idle">{connected ? 'No workspace' : 'Unknown'}</Badge>
                    )}
                  </td>
                  <td>{t.status?.databaseMode ?? '—'}</td>
                  <td>{when(t.status?.lastBackup)}</td>
                  <td>{[t.sso || 'Password', t.totpRequired ? '2FA required' : ''].filter(Boolean).join(' · ')}</td>
                  <td className="num">{t.users}</td>
                  <td>{when(t.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager page={page.page} pageSize={page.pageSize} total={page.total} label="Tenants" />
        </div>
      )}
      {unassigned.length > 0 ? (
        <section className="panel" aria-labelledby="unassigned">
          <h2 id="unassigned">Workspaces without a tenant</h2>
          <p className="muted small">
            These Workspaces exist on the cluster but nobody can manage them in the console yet.
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
          <Form method="post" className="inline">
            <Csrf token={csrf} />
            <Field label="Id" name="id" required hint="Lower case, digits and -, e.g. acme" />
            <Field label="Name" name="displayName" required hint="Shown to people, e.g. Acme Corp" />
            <Field label="Workspace" name="workspace" hint="Defaults to the id" />
            <button type="submit" className="primary" disabled={busy}>
              Create tenant
            </button>
          </Form>
        </section>
      ) : null}
    </>
  );
}
