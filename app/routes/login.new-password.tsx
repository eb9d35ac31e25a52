import { redirect, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, useActionData, useLoaderData } from '@remix-run/react';
import { describePolicy } from '../../console/auth/policy.js';
import { nextPage } from '../../console/stages.js';
import { Csrf, Field, Notice } from '../components/forms';
import { field, requireStage } from '../session.server';

export const meta: MetaFunction = () => [{ title: 'Choose a new password · Holdfast' }];

export async function loader({ context }: LoaderFunctionArgs) {
  const s = requireStage(context, 'password-change');
  const policy = await context.services.signIn.policyFor(s.user);
  const u = s.user;
  const reason = u.mustChangePassword
    ? `${u.email} signed in with a one-time password.`
    : u.passwordUnmetPolicy
      ? `The password of ${u.email} does not meet ${u.tenantId ? 'the rules of its organization' : 'the rules'} any more.`
      : `The password of ${u.email} is older than ${policy.maxAgeDays} days.`;
  return { csrf: context.csrf, email: u.email, reason, rules: describePolicy(policy) };
}

export async function action({ context, request }: ActionFunctionArgs) {
  const s = requireStage(context, 'password-change');
  const form = await request.formData();
  const next = field(form, 'password');
  if (next !== field(form, 'confirm')) return { error: 'The two passwords are not the same.' };
  const result = await context.services.signIn.changePassword(s.user, undefined, next, context.client, s.token);
  if (!result.ok) return { error: result.message };
  throw redirect(nextPage(result.stage), { headers: { 'Set-Cookie': context.sessionCookie(result.token) } });
}

export default function NewPassword() {
  const { csrf, email, reason, rules } = useLoaderData<typeof loader>();
  const failed = useActionData<typeof action>();
  return (
    <section className="card" aria-labelledby="np-title">
      <p className="brand">Holdfast</p>
      <h1 id="np-title">Choose a new password</h1>
      <p>{reason} Choose a new one to continue.</p>
      {failed?.error ? <Notice kind="error">{failed.error}</Notice> : null}
      <Form method="post" replace>
        <Csrf token={csrf} />
        <input type="text" name="username" autoComplete="username" value={email} readOnly hidden />
        <Field
          label="New password"
          name="password"
          type="password"
          autoComplete="new-password"
          required
          autoFocus
          hint={rules}
        />
        <Field label="New password again" name="confirm" type="password" autoComplete="new-password" required />
        <button type="submit" className="primary">
          Save and continue
        </button>
      </Form>
    </section>
  );
}
