import { redirect, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, Link, useActionData, useLoaderData } from '@remix-run/react';
import {
  canWriteTenant,
  createdByConsole,
  settingsFromForm,
  settingsOf,
  testConnection,
  workspaceStatusView,
  type WorkspaceEvent,
} from '../console.server';
import { Csrf, Field, Notice, filled } from '../components/forms';
import { Badge, when } from '../components/table';
import { BackupSettingsForm, LifecyclePanel, WorkspaceStatusPanel, useLiveWorkspace } from '../components/workspace';
import {
  SignInPolicyPanel,
  SsoPanels,
  oidcFromForm,
  passwordPolicyFromForm,
  samlFromForm,
} from '../components/sign-in-settings';
import { attempt, field, requireViewer } from '../session.server';

export const meta: MetaFunction<typeof loader> = ({ data }) => [
  { title: `${data?.tenant.displayName ?? 'Tenant'} · Holdfast` },
];

export async function loader({ context, request, params }: LoaderFunctionArgs) {
  const viewer = requireViewer(context, request);
  const id = params.id!;
  const found = await attempt(() => context.services.tenants.get(viewer, id));
  if (!found.ok) throw new Response(found.error, { status: found.status });
  const api = context.services.workspaces;
  // The Workspace as the apiserver has it now: status, the settings' values, who set them.
  const [people, ws] = await Promise.all([
    context.services.tenants.users(viewer, id),
    api
      ? api.cached(found.value.workspace).then(
          (ws) => ws ?? null,
          () => null,
        )
      : null,
  ]);
  const settings = ws ? settingsOf(ws) : null;
  const [events, choices, log] = ws
    ? await Promise.all([
        api!.eventsOf(ws.metadata.name).catch((err: unknown): WorkspaceEvent[] => {
          context.services.log.warn({ err: String(err), workspace: ws.metadata.name }, 'could not list Events');
          return [];
        }),
        api!.choices(),
        context.services.backups.logOf(ws).catch((err: unknown) => {
          context.services.log.warn({ err: String(err), workspace: ws.metadata.name }, 'could not read the backup log');
          return undefined;
        }),
      ])
    : [[], { storageClasses: [], sharedServers: [], destinations: [] }, undefined];
  const newest = log?.backups.find((b) => b.phase === 'Succeeded' && b.size !== undefined);
  const origin = new URL(request.url).origin;
  const base = context.services.settings.publicUrl ?? origin;
  return {
    csrf: context.csrf,
    canWrite: canWriteTenant(viewer, id),
    platformAdmin: viewer.role === 'platform-admin',
    connected: api !== undefined && ws !== null,
    tenant: found.value,
    workspace: settings
      ? {
          status: workspaceStatusView(settings.workspace),
          values: settings.values as Record<
            string,
            string | number | boolean | string[] | { name: string }[] | undefined
          >,
          setElsewhere: settings.setElsewhere as Record<string, string>,
          deletionPolicy: settings.workspace.spec.deletionPolicy ?? '',
          createdHere: createdByConsole(settings.workspace),
        }
      : null,
    events,
    destinations: choices.destinations,
    backupBytes: newest?.size,
    backups: log?.backups ?? [],
    now: Date.now(),
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

export async function action({ context, request, params }: ActionFunctionArgs) {
  const viewer = requireViewer(context, request);
  const id = params.id!;
  const form = await request.formData();
  const { tenants } = context.services;
  const workspaces = context.services.tenantWorkspaces;
  const checkSso = async (
    viewer: Parameters<typeof testConnection>[1],
    id: string,
    input: Parameters<typeof testConnection>[3],
  ) => {
    const publicUrl = (context.services.settings.publicUrl ?? new URL(request.url).origin).replace(/\/+$/, '');
    const r = await attempt(() =>
      testConnection(tenants, viewer, id, input, {
        publicUrl,
        hosts: context.services.idpHosts,
        limit: context.services.ssoTests,
      }),
    );
    if (!r.ok) return { error: r.error };
    return { protocol: 'oidc' in input ? ('oidc' as const) : ('saml' as const), checks: r.value };
  };
  switch (form.get('intent')) {
    case 'workspace': {
      const r = await attempt(() =>
        workspaces.save(viewer, id, settingsFromForm(form), context.client, { force: form.get('force') === 'on' }),
      );
      if (!r.ok) return { error: r.error, fields: r.fields };
      return {
        ok: r.value.changed.length
          ? `Saved to the Workspace: ${r.value.changed.join(', ')}.`
          : 'Nothing changed, so nothing was written.',
      };
    }
    case 'suspend':
    case 'resume': {
      const suspend = form.get('intent') === 'suspend';
      const r = await attempt(() => workspaces.save(viewer, id, { 'spec.suspend': suspend }, context.client));
      if (!r.ok) return { error: r.error, fields: r.fields };
      return {
        ok: suspend ? 'Suspended: the operator changes nothing and takes no backups until it is resumed.' : 'Resumed.',
      };
    }
    case 'delete': {
      const r = await attempt(() =>
        workspaces.remove(viewer, id, field(form, 'confirm'), context.client, {
          seenPolicy: field(form, 'deletionPolicy'),
        }),
      );
      if (!r.ok) return { error: r.error, fields: r.fields };
      throw redirect('/');
    }
    case 'settings': {
      const r = await attempt(() =>
        tenants.update(
          viewer,
          id,
          {
            displayName: filled(form, 'displayName'),
            totpRequired: form.get('totpRequired') === 'on',
            passwordPolicy: passwordPolicyFromForm(form),
          },
          context.client,
        ),
      );
      return r.ok ? { ok: 'Settings saved.' } : { error: r.error, fields: r.fields };
    }
    case 'oidc':
    case 'oidc-test': {
      const off = form.get('enabled') !== 'on';
      if (form.get('intent') === 'oidc-test') return checkSso(viewer, id, { oidc: oidcFromForm(form) });
      const r = await attempt(() =>
        tenants.update(viewer, id, { oidc: off ? null : oidcFromForm(form) }, context.client),
      );
      return r.ok ? { ok: off ? 'OpenID Connect turned off.' : 'OpenID Connect saved.' } : { error: r.error };
    }
    case 'saml':
    case 'saml-test': {
      const off = form.get('enabled') !== 'on';
      if (form.get('intent') === 'saml-test') return checkSso(viewer, id, { saml: samlFromForm(form) });
      const r = await attempt(() =>
        tenants.update(viewer, id, { saml: off ? null : samlFromForm(form) }, context.client),
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
            email: filled(form, 'email') ?? '',
            name: filled(form, 'name'),
            role: (filled(form, 'role') ?? 'auditor') as 'auditor',
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
  const {
    csrf,
    canWrite,
    platformAdmin,
    connected,
    tenant,
    workspace,
    events,
    destinations,
    backupBytes,
    backups,
    now,
    users,
    sp,
  } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  const disabled = !canWrite;
  const errors: Record<string, string> = (result && 'fields' in result ? result.fields : undefined) ?? {};
  const live = useLiveWorkspace(tenant.id, {
    status: workspace?.status ?? workspaceStatusFallback,
    events,
  });
  return (
    <>
      <div className="page-head">
        <h1>{tenant.displayName}</h1>
        <p className="muted">
          Tenant <code>{tenant.id}</code> · workspace <code>{tenant.workspace}</code> ·{' '}
          <Link to={`/tenants/${tenant.id}/backups`}>Backups and restores</Link>
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
      {!connected ? (
        <Notice kind="info">
          The console cannot read this tenant's Workspace from the Kubernetes API, so its status and backup settings are
          not shown. Check the console's service account.
        </Notice>
      ) : workspace ? (
        <>
          <WorkspaceStatusPanel name={tenant.workspace} status={live.status} events={live.events} live={live.live} />
          <BackupSettingsForm
            csrf={csrf}
            disabled={disabled}
            deletionLocked={!platformAdmin}
            values={workspace.values}
            setElsewhere={workspace.setElsewhere}
            errors={errors}
            destinations={destinations}
            backupBytes={backupBytes}
            backups={backups}
            now={now}
          />
        </>
      ) : (
        <Notice kind="info">
          There is no Workspace <code>{tenant.workspace}</code> on the cluster: create it with kubectl, or delete this
          tenant and create it again from the console.
        </Notice>
      )}

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

      <SignInPolicyPanel
        csrf={csrf}
        disabled={disabled}
        displayName={tenant.displayName}
        totpRequired={tenant.totpRequired}
        passwordPolicy={tenant.passwordPolicy}
        errors={errors}
      />

      <SsoPanels
        csrf={csrf}
        disabled={disabled}
        sp={sp}
        oidc={tenant.oidc}
        oidcClientSecretSet={tenant.oidcClientSecretSet}
        saml={tenant.saml}
        checks={
          result && 'checks' in result && result.protocol && result.checks
            ? { protocol: result.protocol, checks: result.checks }
            : undefined
        }
      />

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

      {platformAdmin ? (
        <LifecyclePanel
          csrf={csrf}
          tenantId={tenant.id}
          suspended={workspace ? live.status.suspended : undefined}
          workspace={
            workspace
              ? { name: tenant.workspace, deletionPolicy: workspace.deletionPolicy, createdHere: workspace.createdHere }
              : undefined
          }
          confirmError={errors['confirm']}
        />
      ) : null}
    </>
  );
}

const workspaceStatusFallback = {
  exists: false,
  phase: 'Unknown',
  ready: false,
  suspended: false,
  current: true,
  conditions: [],
};
