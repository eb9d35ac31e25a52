import { data, redirect, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, Link, useActionData, useLoaderData, type ShouldRevalidateFunction } from '@remix-run/react';
import { newTotpSecret, qrDataUrl, totpUri } from '../console.server';
import { field } from '../session.server';
import { Csrf, Field, Notice } from '../components/forms';

export const meta: MetaFunction = () => [{ title: 'Set up two-factor sign-in · Holdfast' }];

/** Someone whose tenant requires TOTP, at sign-in, or a signed-in user turning it on from the account page. */
function enrolling(context: LoaderFunctionArgs['context']) {
  const s = context.session;
  if (!s) throw redirect('/login');
  if (s.session.stage !== 'totp-enrolment' && s.session.stage !== 'active') throw redirect('/login');
  return s;
}

/**
 * The loader makes a new secret each time it runs: after a mistyped code the
 * QR code must stay the one already scanned, and after success the recovery
 * codes stay on screen.
 */
export const shouldRevalidate: ShouldRevalidateFunction = ({ formMethod, defaultShouldRevalidate }) =>
  formMethod === 'POST' ? false : defaultShouldRevalidate;

export async function loader({ context }: LoaderFunctionArgs) {
  const s = enrolling(context);
  if (s.user.totpSecret && s.session.stage === 'active') throw redirect('/account');
  const secret = newTotpSecret();
  const uri = totpUri(secret, s.user.email);
  const qr = await qrDataUrl(uri);
  // The secret travels in the form, signed for this session and for 15 minutes,
  // so nothing is stored until the code proves the app has it.
  const issued = String(Date.now());
  return {
    csrf: context.csrf,
    secret,
    issued,
    signature: context.services.csrf.issue(`totp:${s.token}:${secret}:${issued}`),
    uri,
    qr,
    required: s.session.stage === 'totp-enrolment',
    // Turning TOTP on later, from the account page, asks for the password again.
    askPassword: s.session.stage === 'active' && Boolean(s.user.passwordHash),
  };
}

export async function action({ context, request }: ActionFunctionArgs) {
  const s = enrolling(context);
  const form = await request.formData();
  if (s.user.totpSecret)
    return data({ error: 'Two-factor sign-in is already on for this account.', codes: null }, { status: 409 });
  const secret = field(form, 'secret');
  const issued = field(form, 'issued');
  const fresh = Date.now() - Number(issued) < 15 * 60_000;
  if (!fresh || !context.services.csrf.check(`totp:${s.token}:${secret}:${issued}`, field(form, 'signature'))) {
    return data({ error: 'This set-up page expired. Reload it and scan the new code.', codes: null }, { status: 400 });
  }
  const result = await context.services.signIn.enrolTotp(
    s.user,
    secret,
    field(form, 'code'),
    context.client,
    s.token,
    field(form, 'current'),
  );
  if (!result.ok) return data({ error: result.message, codes: null }, { status: 400 });
  return data(
    { error: null, codes: result.recoveryCodes },
    { headers: { 'Set-Cookie': context.sessionCookie(result.token) } },
  );
}

export default function Enrol() {
  const result = useActionData<typeof action>();
  const { csrf, secret, issued, signature, uri, qr, required, askPassword } = useLoaderData<typeof loader>();
  if (result?.codes) {
    return (
      <section className="card" aria-labelledby="rc-title">
        <h1 id="rc-title">Two-factor sign-in is on</h1>
        <Notice kind="ok">
          Keep these recovery codes somewhere safe. Each works once, in place of a code, if you lose your device. They
          are not shown again.
        </Notice>
        <ul className="codes" aria-label="Recovery codes">
          {result.codes.map((c) => (
            <li key={c}>
              <code>{c}</code>
            </li>
          ))}
        </ul>
        <p>
          <Link to="/" className="button primary" reloadDocument>
            Continue to the console
          </Link>
        </p>
      </section>
    );
  }
  return (
    <section className="card" aria-labelledby="enrol-title">
      <p className="brand">Holdfast</p>
      <h1 id="enrol-title">Set up two-factor sign-in</h1>
      {required ? (
        <Notice kind="info">Your organization requires a code from an authenticator app at every sign-in.</Notice>
      ) : null}
      <p>
        Scan this code with an authenticator app (any app that supports TOTP), then enter the 6-digit code it shows.
      </p>
      <img className="qr" src={qr} alt="QR code for your authenticator app" width={180} height={180} />
      <details>
        <summary>Cannot scan? Enter the key by hand</summary>
        <p>
          <code className="secret" data-testid="totp-secret">
            {secret}
          </code>
        </p>
        <p className="muted small break">{uri}</p>
      </details>
      {result?.error ? <Notice kind="error">{result.error}</Notice> : null}
      <Form method="post">
        <Csrf token={csrf} />
        <input type="hidden" name="secret" value={secret} />
        <input type="hidden" name="issued" value={issued} />
        <input type="hidden" name="signature" value={signature} />
        <Field
          label="Code from the app"
          name="code"
          autoComplete="one-time-code"
          inputMode="numeric"
          required
          pattern="[0-9]{6}"
        />
        {askPassword ? (
          <Field label="Current password" name="current" type="password" autoComplete="current-password" required />
        ) : null}
        <button type="submit" className="primary">
          Turn on
        </button>
      </Form>
    </section>
  );
}
