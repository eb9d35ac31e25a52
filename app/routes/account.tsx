import { data, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, Link, useActionData, useLoaderData } from '@remix-run/react';
import { Csrf, Field, Notice } from '../components/forms';
import { when } from '../components/table';
import { describePolicy } from '../../console/auth/policy.js';
import { field, requireViewer } from '../session.server';

export const meta: MetaFunction = () => [{ title: 'Account · Holdfast' }];

export async function loader({ context, request }: LoaderFunctionArgs) {
  requireViewer(context, request);
  const user = context.session!.user;
  return {
    csrf: context.csrf,
    email: user.email,
    role: user.role,
    tenantId: user.tenantId,
    totp: Boolean(user.totpSecret),
    local: Boolean(user.passwordHash),
    passwordChangedAt: user.passwordChangedAt?.toISOString() ?? null,
    policy: await context.services.signIn.policyFor(user),
  };
}

export async function action({ context, request }: ActionFunctionArgs) {
  requireViewer(context, request);
  const s = context.session!;
  const form = await request.formData();
  const next = field(form, 'password');
  if (next !== field(form, 'confirm'))
    return data({ ok: null, error: 'The two new passwords are not the same.' }, { status: 400 });
  const result = await context.services.signIn.changePassword(
    s.user,
    field(form, 'current'),
    next,
    context.client,
    s.token,
  );
  if (!result.ok) return data({ ok: null, error: result.message }, { status: 400 });
  return data(
    { ok: 'Password changed. Your other sessions were signed out.', error: null },
    { headers: { 'Set-Cookie': context.sessionCookie(result.token) } },
  );
}

export default function Account() {
  const d = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  return (
    <>
      <div className="page-head">
        <h1>Account</h1>
        <p className="muted">
          {d.email} · {d.role}
          {d.tenantId ? ` · ${d.tenantId}` : ''}
        </p>
      </div>
      <div className="columns">
        <section className="panel" aria-labelledby="tfa">
          <h2 id="tfa">Two-factor sign-in</h2>
          {d.totp ? (
            <p>On: every password sign-in asks for a code from your authenticator app.</p>
          ) : (
            <>
              <p>Off. Add a code from an authenticator app to every password sign-in.</p>
              <p>
                <Link className="button primary" to="/login/enrol">
                  Set up two-factor sign-in
                </Link>
              </p>
            </>
          )}
        </section>
        {d.local ? (
          <section className="panel" aria-labelledby="pw">
            <h2 id="pw">Password</h2>
            <p className="muted small">
              Last changed {when(d.passwordChangedAt)}
              {d.policy.maxAgeDays > 0 ? `; it must be changed every ${d.policy.maxAgeDays} days` : ''}.
            </p>
            {result?.error ? <Notice kind="error">{result.error}</Notice> : null}
            {result?.ok ? <Notice kind="ok">{result.ok}</Notice> : null}
            <Form method="post">
              <Csrf token={d.csrf} />
              <input type="text" name="username" autoComplete="username" value={d.email} readOnly hidden />
              <Field label="Current password" name="current" type="password" autoComplete="current-password" required />
              <Field
                label="New password"
                name="password"
                type="password"
                autoComplete="new-password"
                required
                hint={describePolicy(d.policy)}
              />
              <Field label="New password again" name="confirm" type="password" autoComplete="new-password" required />
              <button type="submit">Change password</button>
            </Form>
          </section>
        ) : null}
      </div>
    </>
  );
}
