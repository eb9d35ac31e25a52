import type { LoaderFunctionArgs, MetaFunction } from '@remix-run/node';
import { useLoaderData } from '@remix-run/react';
import { canExportWholeAudit } from '../console.server';
import { Pager, when } from '../components/table';
import { attempt, requireViewer } from '../session.server';

export const meta: MetaFunction = () => [{ title: 'Audit log · Holdfast' }];

export async function loader({ context, request }: LoaderFunctionArgs) {
  const viewer = requireViewer(context, request);
  const page = Number(new URL(request.url).searchParams.get('page') ?? 1) || 1;
  const r = await attempt(() => context.services.audit.list(viewer, { page, pageSize: 50 }));
  if (!r.ok) throw new Response(r.error, { status: r.status });
  // Targets name users by id (stable across e-mail changes); people read e-mail addresses.
  const emails = await context.services.tenants.emailsOf(
    r.value.items.flatMap((e) => (e.target.startsWith('user/') ? [e.target.slice(5)] : [])),
  );
  return {
    canExport: canExportWholeAudit(viewer),
    publicKey: await context.services.audit.publicKey(),
    scope: viewer.tenantId,
    page: {
      ...r.value,
      items: r.value.items.map((e) => ({
        seq: e.seq,
        at: e.at,
        actor: e.actor,
        tenantId: e.tenantId,
        action: e.action,
        target: e.target.startsWith('user/')
          ? `user ${emails.get(e.target.slice(5)) ?? e.target.slice(5)}`
          : e.target.replace('/', ' '),
        ip: e.ip,
        change: summary(e.before, e.after),
        hash: e.hash,
      })),
    },
  };
}

function summary(before: unknown, after: unknown): string {
  const b = before && typeof before === 'object' ? (before as Record<string, unknown>) : {};
  const a = after && typeof after === 'object' ? (after as Record<string, unknown>) : {};
  const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])];
  const show = (v: unknown) => {
    const text = JSON.stringify(v) ?? 'null';
    return text.length > 60 ? `${text.slice(0, 57)}…` : text;
  };
  return keys.map((k) => (k in b ? `${k}: ${show(b[k])} → ${show(a[k])}` : `${k}: ${show(a[k])}`)).join('; ');
}

export default function Audit() {
  const { canExport, publicKey, scope, page } = useLoaderData<typeof loader>();
  return (
    <>
      <div className="page-head">
        <h1>Audit log</h1>
        <p className="muted">
          Every sign-in, failure, lockout and change
          {scope ? (
            <>
              {' '}
              in tenant <code>{scope}</code>
            </>
          ) : null}
          , newest first. Entries are chained by hash; an export ends with a statement of the log's size and last hash
          signed by this console, and can be checked offline with{' '}
          <code>holdfast audit verify FILE --public-key KEY</code>.
        </p>
        <p className="muted">
          This console's audit signing key: <code data-testid="audit-public-key">{publicKey}</code>
        </p>
        {canExport ? (
          <p>
            <a className="button" href="/api/audit/export" download>
              Export the whole log (JSON Lines)
            </a>
          </p>
        ) : null}
      </div>
      {page.total === 0 ? (
        <div className="empty">
          <h2>Nothing recorded yet</h2>
        </div>
      ) : (
        <div className="table-wrap">
          <table className="dense">
            <thead>
              <tr>
                <th scope="col" className="num">
                  #
                </th>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Tenant</th>
                <th scope="col">From</th>
                <th scope="col">Change</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((e) => (
                <tr key={e.seq}>
                  <td className="num" title={`hash ${e.hash}`}>
                    {e.seq}
                  </td>
                  <td>{when(e.at)}</td>
                  <td>{e.actor}</td>
                  <td>
                    <code>{e.action}</code>
                  </td>
                  <td>{e.target}</td>
                  <td>{e.tenantId ?? '—'}</td>
                  <td>{e.ip}</td>
                  <td className="wrap">{e.change}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager page={page.page} pageSize={page.pageSize} total={page.total} label="Audit log" />
        </div>
      )}
    </>
  );
}
