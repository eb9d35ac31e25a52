import { type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, useActionData, useLoaderData } from '@remix-run/react';
import { canWriteTenant } from '../console.server';
import { Csrf, Field, Notice } from '../components/forms';
import { Badge, when } from '../components/table';
import { attempt, field, requireViewer } from '../session.server';

export const meta: MetaFunction<typeof loader> = ({ data }) => [
  { title: `${data?.tenant.displayName ?? 'Tenant'} · Holdfast` },
];

export async function loader({ context, request, params }: LoaderFunctionArgs) {
  const viewer = requireViewer(context, request);
  const id = params.id!;
  const found = await attempt(() => context.services.tenants.get(viewer, id));
  if (!found.ok) throw new Response(found.error, { status: found.status });
  const people = await context.services.tenants.users(viewer, id);
  const status = (await context.services.workspaces?.all())?.get(found.value.workspace) ?? null;
  const origin = new URL(request.url).origin;
  const base = context.services.settings.publicUrl ?? origin;
  return {
    csrf: context.csrf,
    canWrite: canWriteTenant(viewer, id),
    tenant: found.value,
    status,
    users: people.map((u) => ({
      ...u,
      lastSignInAt: u.lastSignInAt?.toISOString() ?? null,
      lockedUntil: u.lockedUntil?.toISOString() ?? null,
      createdAt: u.createdAt.toISOString(),
    })),
    sp: {
      entityId: `${base}/auth/saml/${id}`,
      acs: `${base}/auth/saml/${id}/acs`,
      metadata: `${base}/auth/saml/${id}/metadata`,
      oidcRedirect: `${base}/auth/oidc/callback`,
    },
  };
}

function text(form: FormData, name: string): string | undefined {
  const v = field(form, name).trim();
  return v === '' ? undefined : v;
}

export async function action({ context, request, params }: ActionFunctionArgs) {
  const viewer = requireViewer(context, request);
  const id = params.id!;
  const form = await request.formData();
  const { tenants } = context.services;
  switch (form.get('intent')) {
    case 'settings': {
      const r = await attempt(() =>
        tenants.update(
          viewer,
          id,
          { displayName: text(form, 'displayName'), totpRequired: form.get('totpRequired') === 'on' },
          context.client,
        ),
      );
      return r.ok ? { ok: 'Settings saved.' } : { error: r.error };
    }
    case 'oidc': {
      const off = form.get('enabled') !== 'on';
      const r = await attempt(() =>
        tenants.update(
          viewer,
          id,
          {
            oidc: off
              ? null
              : {
                  issuer: text(form, 'issuer') ?? '',
                  clientId: text(form, 'clientId') ?? '',
                  ...(text(form, 'clientSecret') ? { clientSecret: text(form, 'clientSecret') } : {}),
                  ...(text(form, 'scopes') ? { scopes: text(form, 'scopes') } : {}),
                  ...(text(form, 'groupsClaim') ? { groupsClaim: text(form, 'groupsClaim') } : {}),
                },
          },
          context.client,
        ),
      );
      return r.ok ? { ok: off ? 'OpenID Connect turned off.' : 'OpenID Connect saved.' } : { error: r.error };
    }
    case 'saml': {
      const off = form.get('enabled') !== 'on';
      const r = await attempt(() =>
        tenants.update(
          viewer,
          id,
          {
            saml: off
              ? null
              : {
                  entryPoint: text(form, 'entryPoint') ?? '',
                  idpCert: text(form, 'idpCert') ?? '',
                  ...(text(form, 'idpIssuer') ? { idpIssuer: text(form, 'idpIssuer') } : {}),
                  ...(text(form, 'groupsAttribute') ? { groupsAttribute: text(form, 'groupsAttribute') } : {}),
                },
          },
          context.client,
        ),
      );
      return r.ok ? { ok: off ? 'SAML turned off.' : 'SAML saved.' } : { error: r.error };
    }
    case 'roles': {
      const lines = field(form, 'mapping')
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
      const mapping = lines.map((l) => {
        const [group = '', role = ''] = l.split('=').map((s) => s.trim());
        return { group, role: role as 'tenant-admin' | 'auditor' };
      });
      const r = await attempt(() => tenants.update(viewer, id, { roleMapping: mapping }, context.client));
      return r.ok ? { ok: 'Role mapping saved.' } : { error: r.error };
    }
    case 'add-user': {
      const r = await attempt(() =>
        tenants.createUser(
          viewer,
          id,
          {
            email: text(form, 'email') ?? '',
            name: text(form, 'name'),
            role: (text(form, 'role') ?? 'auditor') as 'auditor',
          },
          context.client,
        ),
      );
      return r.ok
        ? {
            ok: `Account created. Give ${r.value.user.email} this one-time password; they choose their own at first sign-in:`,
            secret: r.value.oneTimePassword,
          }
        : { error: r.error };
    }
    case 'unlock': {
      const r = await attempt(() => tenants.unlockUser(viewer, field(form, 'user'), context.client));
      return r.ok ? { ok: 'Account unlocked.' } : { error: r.error };
    }
    default:
      return { error: 'Unknown action; reload the page.' };
  }
}

export default function TenantPage() {
  const { csrf, canWrite, tenant, status, users, sp } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  const disabled = !canWrite;
  return (
    <>
      <div className="page-head">
        <h1>{tenant.displayName}</h1>
        <p className="muted">
          Tenant <code>{tenant.id}</code> · workspace <code>{tenant.workspace}</code>
          {status ? (
            <>
              {' '}
              · <Badge tone={status.ready ? 'ok' : 'warn'}>{status.ready ? 'Ready' : status.phase}</Badge>{' '}
              {status.ready ? null : <small>{status.message}</small>}
            </>
          ) : null}
        </p>
      </div>
      {result && 'error' in result && result.error ? <Notice kind="error">{result.error}</Notice> : null}
      {result && 'ok' in result && result.ok ? (
        <Notice kind="ok">
          {result.ok}
          {'secret' in result && result.secret ? (
            <>
              {' '}
              <code data-testid="one-time-password">{result.secret}</code>
            </>
          ) : null}
        </Notice>
      ) : null}
      {!canWrite ? <Notice kind="info">You can read this tenant's settings but not change them.</Notice> : null}

      <section className="panel" aria-labelledby="people">
        <h2 id="people">People</h2>
        {users.length === 0 ? (
          <p className="empty">
            No accounts yet.
            {canWrite ? ' Add one below, or let people sign in with single sign-on and a role mapping.' : ''}
          </p>
        ) : (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">E-mail</th>
                  <th scope="col">Role</th>
                  <th scope="col">Sign-in</th>
                  <th scope="col">Last sign-in</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {users.map((u) => (
                  <tr key={u.id}>
                    <td>
                      {u.email}
                      {u.name ? <small className="muted"> {u.name}</small> : null}
                    </td>
                    <td>{u.role}</td>
                    <td>
                      {u.sso ? 'SSO' : 'Password'}
                      {u.totp ? ' + 2FA' : ''}
                    </td>
                    <td>{when(u.lastSignInAt)}</td>
                    <td>
                      {u.lockedUntil ? (
                        <Form method="post" className="row">
                          <Badge tone="bad">Locked until {when(u.lockedUntil)}</Badge>
                          {canWrite ? (
                            <>
                              <Csrf token={csrf} />
                              <input type="hidden" name="user" value={u.id} />
                              <button name="intent" value="unlock" type="submit">
                                Unlock
                              </button>
                            </>
                          ) : null}
                        </Form>
                      ) : u.disabled ? (
                        <Badge tone="idle">Disabled</Badge>
                      ) : (
                        <Badge tone="ok">Active</Badge>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {canWrite ? (
          // A new key after each added person empties the form.
          <Form method="post" className="inline" key={result && 'secret' in result ? result.secret : 'add'}>
            <Csrf token={csrf} />
            <Field label="E-mail" name="email" type="email" required />
            <Field label="Name" name="name" />
            <div className="field">
              <label htmlFor="f-role">Role</label>
              <select id="f-role" name="role" defaultValue="auditor">
                <option value="tenant-admin">Tenant admin</option>
                <option value="auditor">Auditor</option>
              </select>
            </div>
            <button type="submit" name="intent" value="add-user">
              Add person
            </button>
          </Form>
        ) : null}
      </section>

      <section className="panel" aria-labelledby="settings">
        <h2 id="settings">Sign-in policy</h2>
        <Form method="post">
          <Csrf token={csrf} />
          <fieldset disabled={disabled}>
            <Field label="Name" name="displayName" defaultValue={tenant.displayName} required />
            <div className="check">
              <input id="f-totp" type="checkbox" name="totpRequired" defaultChecked={tenant.totpRequired} />
              <label htmlFor="f-totp">Require a TOTP code at every password sign-in</label>
            </div>
            <button type="submit" name="intent" value="settings">
              Save
            </button>
          </fieldset>
        </Form>
      </section>

      <div className="columns">
        <section className="panel" aria-labelledby="oidc">
          <h2 id="oidc">OpenID Connect</h2>
          <p className="muted small">
            Redirect URI to register at the provider: <code>{sp.oidcRedirect}</code>
          </p>
          <Form method="post">
            <Csrf token={csrf} />
            <fieldset disabled={disabled}>
              <div className="check">
                <input id="f-oidc-on" type="checkbox" name="enabled" defaultChecked={Boolean(tenant.oidc)} />
                <label htmlFor="f-oidc-on">Enabled</label>
              </div>
              <Field
                label="Issuer"
                name="issuer"
                defaultValue={tenant.oidc?.issuer}
                hint="e.g. https://login.example.com/realms/acme"
              />
              <Field label="Client id" name="clientId" defaultValue={tenant.oidc?.clientId} />
              <Field
                label="Client secret"
                name="clientSecret"
                type="password"
                autoComplete="off"
                hint={
                  tenant.oidcClientSecretSet
                    ? 'A secret is stored; leave empty to keep it (a new issuer needs its secret entered again).'
                    : 'Leave empty for a public client.'
                }
              />
              <Field
                label="Scopes"
                name="scopes"
                defaultValue={tenant.oidc?.scopes}
                hint="Default: openid email profile; add the scope that releases groups if the provider needs one"
              />
              <Field
                label="Groups claim"
                name="groupsClaim"
                defaultValue={tenant.oidc?.groupsClaim}
                hint="Default: groups"
              />
              <button type="submit" name="intent" value="oidc">
                Save OpenID Connect
              </button>
            </fieldset>
          </Form>
        </section>
        <section className="panel" aria-labelledby="saml">
          <h2 id="saml">SAML 2.0</h2>
          <p className="muted small">
            Service provider: entity id <code>{sp.entityId}</code>, ACS <code>{sp.acs}</code>
            {tenant.saml ? (
              <>
                , <a href={sp.metadata}>metadata</a>
              </>
            ) : null}
          </p>
          <Form method="post">
            <Csrf token={csrf} />
            <fieldset disabled={disabled}>
              <div className="check">
                <input id="f-saml-on" type="checkbox" name="enabled" defaultChecked={Boolean(tenant.saml)} />
                <label htmlFor="f-saml-on">Enabled</label>
              </div>
              <Field label="IdP sign-on URL" name="entryPoint" defaultValue={tenant.saml?.entryPoint} />
              <div className="field">
                <label htmlFor="f-cert">IdP signing certificate (PEM)</label>
                <textarea id="f-cert" name="idpCert" rows={4} defaultValue={tenant.saml?.idpCert} />
              </div>
              <Field
                label="IdP entity id"
                name="idpIssuer"
                defaultValue={tenant.saml?.idpIssuer}
                hint="Optional; checked against the assertion's issuer"
              />
              <Field
                label="Groups attribute"
                name="groupsAttribute"
                defaultValue={tenant.saml?.groupsAttribute}
                hint="Default: groups"
              />
              <button type="submit" name="intent" value="saml">
                Save SAML
              </button>
            </fieldset>
          </Form>
        </section>
      </div>

      <section className="panel" aria-labelledby="roles">
        <h2 id="roles">Roles for single sign-on</h2>
        <p className="muted small">
          People who sign in through SSO for the first time get an account with the role their groups map to, one{' '}
          <code>group = role</code> per line (roles: tenant-admin, auditor). Nobody else gets in.
        </p>
        <Form method="post">
          <Csrf token={csrf} />
          <fieldset disabled={disabled}>
            <div className="field">
              <label htmlFor="f-map">Mapping</label>
              <textarea
                id="f-map"
                name="mapping"
                rows={3}
                defaultValue={tenant.roleMapping.map((m) => `${m.group} = ${m.role}`).join('\n')}
              />
            </div>
            <button type="submit" name="intent" value="roles">
              Save roles
            </button>
          </fieldset>
        </Form>
      </section>
    </>
  );
}
