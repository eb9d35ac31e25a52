import { redirect, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, useActionData, useLoaderData, useNavigation } from '@remix-run/react';
import { nextPage } from '../../console/stages.js';
import { Csrf, Field, Notice } from '../components/forms';
import { field, safeNext } from '../session.server';

export const meta: MetaFunction = () => [{ title: 'Sign in · Holdfast' }];

export async function loader({ context, request }: LoaderFunctionArgs) {
  if (context.viewer) throw redirect('/');
  const url = new URL(request.url);
  const error = url.searchParams.get('error');
  const signed =
    error !== null && context.services.csrf.checkKeyed('notice', error, url.searchParams.get('sig') ?? undefined);
  return { csrf: context.csrf, error: signed ? error : null, next: safeNext(url.searchParams.get('next')) };
}

export async function action({ context, request }: ActionFunctionArgs) {
  const form = await request.formData();
  const email = field(form, 'email');
  const result = await context.services.signIn.password(
    email,
    field(form, 'password'),
    context.client,
    context.session?.token,
  );
  if (!result.ok) return { error: result.message, email };
  const to = result.stage === 'active' ? safeNext(form.get('next')) : nextPage(result.stage);
  throw redirect(to, { headers: { 'Set-Cookie': context.sessionCookie(result.token) } });
}

export default function Login() {
  const { csrf, error, next } = useLoaderData<typeof loader>();
  const failed = useActionData<typeof action>();
  const busy = useNavigation().state === 'submitting';
  return (
    <section className="card" aria-labelledby="signin-title">
      <p className="brand">Holdfast</p>
      <h1 id="signin-title">Sign in to the console</h1>
      {(failed?.error ?? error) ? <Notice kind="error">{failed?.error ?? error}</Notice> : null}
      <Form method="post" replace>
        <Csrf token={csrf} />
        <input type="hidden" name="next" value={next} />
        <Field
          label="E-mail address"
          name="email"
          type="email"
          autoComplete="username"
          required
          defaultValue={failed?.email}
          autoFocus
        />
        <Field label="Password" name="password" type="password" autoComplete="current-password" required />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </Form>
      <div className="divider">
        <span>or</span>
      </div>
      <form method="get" action="/login/sso" className="sso">
        <Field
          label="Organization"
          name="tenant"
          autoComplete="organization"
          required
          hint="Your organization's id in this console, e.g. acme"
          pattern="[a-z0-9-]+"
        />
        <button type="submit">Continue with single sign-on</button>
      </form>
    </section>
  );
}
