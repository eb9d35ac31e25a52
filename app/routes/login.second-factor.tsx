import { redirect, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, useActionData, useLoaderData } from '@remix-run/react';
import { nextPage } from '../../console/stages.js';
import { Csrf, Field, Notice } from '../components/forms';
import { field, requireStage } from '../session.server';

export const meta: MetaFunction = () => [{ title: 'Two-factor code · Holdfast' }];

export async function loader({ context }: LoaderFunctionArgs) {
  const s = requireStage(context, 'second-factor');
  return { csrf: context.csrf, email: s.user.email };
}

export async function action({ context, request }: ActionFunctionArgs) {
  const s = requireStage(context, 'second-factor');
  const form = await request.formData();
  const result = await context.services.signIn.secondFactor(s.user, field(form, 'code'), context.client, s.token);
  if (!result.ok) return { error: result.message };
  throw redirect(nextPage(result.stage), { headers: { 'Set-Cookie': context.sessionCookie(result.token) } });
}

export default function SecondFactor() {
  const { csrf, email } = useLoaderData<typeof loader>();
  const failed = useActionData<typeof action>();
  return (
    <section className="card" aria-labelledby="tf-title">
      <p className="brand">Holdfast</p>
      <h1 id="tf-title">Enter your code</h1>
      <p>
        Signing in as <strong>{email}</strong>. Open your authenticator app and enter the 6-digit code, or one of your
        recovery codes.
      </p>
      {failed?.error ? <Notice kind="error">{failed.error}</Notice> : null}
      <Form method="post" replace>
        <Csrf token={csrf} />
        <Field label="Code" name="code" autoComplete="one-time-code" inputMode="text" required autoFocus />
        <button type="submit" className="primary">
          Verify
        </button>
      </Form>
    </section>
  );
}
