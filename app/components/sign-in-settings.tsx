// A tenant's sign-in settings: its name, TOTP, password rules, and single
// sign-on with a connection test.
import { Form } from '@remix-run/react';
import { DEFAULT_POLICY, POLICY_LIMITS, type PasswordPolicy } from '../../console/auth/policy';
import type { SsoCheck } from '../../console/auth/sso';
import { Csrf, Field, filled } from './forms';
import { Badge } from './table';

export function SignInPolicyPanel(props: {
  csrf: string;
  disabled: boolean;
  displayName: string;
  totpRequired: boolean;
  passwordPolicy: PasswordPolicy | null;
  errors: Record<string, string>;
}) {
  const p = props.passwordPolicy ?? DEFAULT_POLICY;
  const check = (name: keyof PasswordPolicy, label: string) => (
    <div className="check">
      <input id={`f-pp-${name}`} type="checkbox" name={`passwordPolicy.${name}`} defaultChecked={Boolean(p[name])} />
      <label htmlFor={`f-pp-${name}`}>{label}</label>
    </div>
  );
  return (
    <section className="panel" aria-labelledby="settings">
      <h2 id="settings">Sign-in policy</h2>
      <Form method="post">
        <Csrf token={props.csrf} />
        <fieldset disabled={props.disabled}>
          <Field label="Name" name="displayName" defaultValue={props.displayName} required />
          <div className="check">
            <input id="f-totp" type="checkbox" name="totpRequired" defaultChecked={props.totpRequired} />
            <label htmlFor="f-totp">Require a TOTP code at every password sign-in</label>
          </div>
          <h3>Passwords</h3>
          <p className="muted small">
            {props.passwordPolicy ? 'Rules of this tenant.' : "The console's default rules."} A password that no longer
            meets them is changed at its next sign-in. Common passwords are always refused.
          </p>
          <div className="columns">
            <Field
              label="Minimum length"
              name="passwordPolicy.minLength"
              inputMode="numeric"
              defaultValue={String(p.minLength)}
              hint={`${POLICY_LIMITS.minLength[0]} to ${POLICY_LIMITS.minLength[1]} characters`}
              error={props.errors['passwordPolicy.minLength']}
            />
            <Field
              label="Change every (days)"
              name="passwordPolicy.maxAgeDays"
              inputMode="numeric"
              defaultValue={String(p.maxAgeDays)}
              hint="0: never"
              error={props.errors['passwordPolicy.maxAgeDays']}
            />
          </div>
          {check('requireDigit', 'A digit')}
          {check('requireUpper', 'An upper case letter')}
          {check('requireLower', 'A lower case letter')}
          {check('forbidSpaces', 'No spaces')}
          <button type="submit" name="intent" value="settings">
            Save
          </button>
        </fieldset>
      </Form>
    </section>
  );
}

/** The policy the form asks for; null when it is the default, so the tenant follows later changes of the default. */
export function passwordPolicyFromForm(form: FormData): PasswordPolicy | null {
  const number = (name: string) => {
    const v = filled(form, `passwordPolicy.${name}`) ?? '';
    return v === '' ? Number.NaN : Number(v);
  };
  const on = (name: string) => form.get(`passwordPolicy.${name}`) === 'on';
  const policy: PasswordPolicy = {
    minLength: number('minLength'),
    requireDigit: on('requireDigit'),
    requireUpper: on('requireUpper'),
    requireLower: on('requireLower'),
    forbidSpaces: on('forbidSpaces'),
    maxAgeDays: number('maxAgeDays'),
  };
  const same = (Object.keys(DEFAULT_POLICY) as (keyof PasswordPolicy)[]).every((k) => policy[k] === DEFAULT_POLICY[k]);
  return same ? null : policy;
}

export function SsoPanels(props: {
  csrf: string;
  disabled: boolean;
  sp: { entityId: string; acs: string; metadata: string; oidcRedirect: string };
  oidc: { issuer: string; clientId: string; scopes?: string; groupsClaim?: string } | null;
  oidcClientSecretSet: boolean;
  saml: { entryPoint: string; idpCert: string; idpIssuer?: string; groupsAttribute?: string } | null;
  checks: { protocol: 'oidc' | 'saml'; checks: SsoCheck[] } | undefined;
}) {
  return (
    <div className="columns">
      <section className="panel" aria-labelledby="oidc">
        <h2 id="oidc">OpenID Connect</h2>
        <p className="muted small">
          Redirect URI to register at the provider: <code>{props.sp.oidcRedirect}</code>
        </p>
        <Form method="post">
          <Csrf token={props.csrf} />
          <fieldset disabled={props.disabled}>
            <div className="check">
              <input id="f-oidc-on" type="checkbox" name="enabled" defaultChecked={Boolean(props.oidc)} />
              <label htmlFor="f-oidc-on">Enabled</label>
            </div>
            <Field
              label="Issuer"
              name="issuer"
              defaultValue={props.oidc?.issuer}
              hint="e.g. https://login.example.com/realms/acme"
            />
            <Field label="Client id" name="clientId" defaultValue={props.oidc?.clientId} />
            <Field
              label="Client secret"
              name="clientSecret"
              type="password"
              autoComplete="off"
              hint={
                props.oidcClientSecretSet
                  ? 'A secret is stored; leave empty to keep it (a new issuer needs its secret entered again).'
                  : 'Leave empty for a public client.'
              }
            />
            <Field
              label="Scopes"
              name="scopes"
              defaultValue={props.oidc?.scopes}
              hint="Default: openid email profile; add the scope that releases groups if the provider needs one"
            />
            <Field
              label="Groups claim"
              name="groupsClaim"
              defaultValue={props.oidc?.groupsClaim}
              hint="Default: groups"
            />
            <div className="actions">
              <button type="submit" name="intent" value="oidc">
                Save OpenID Connect
              </button>
              <button type="submit" name="intent" value="oidc-test">
                Test connection
              </button>
            </div>
          </fieldset>
        </Form>
        {props.checks?.protocol === 'oidc' ? <CheckList checks={props.checks.checks} /> : null}
      </section>
      <section className="panel" aria-labelledby="saml">
        <h2 id="saml">SAML 2.0</h2>
        <p className="muted small">
          Service provider: entity id <code>{props.sp.entityId}</code>, ACS <code>{props.sp.acs}</code>
          {props.saml ? (
            <>
              , <a href={props.sp.metadata}>metadata</a>
            </>
          ) : null}
        </p>
        <Form method="post">
          <Csrf token={props.csrf} />
          <fieldset disabled={props.disabled}>
            <div className="check">
              <input id="f-saml-on" type="checkbox" name="enabled" defaultChecked={Boolean(props.saml)} />
              <label htmlFor="f-saml-on">Enabled</label>
            </div>
            <Field label="IdP sign-on URL" name="entryPoint" defaultValue={props.saml?.entryPoint} />
            <div className="field">
              <label htmlFor="f-cert">IdP signing certificate (PEM)</label>
              <textarea id="f-cert" name="idpCert" rows={4} defaultValue={props.saml?.idpCert} />
            </div>
            <Field
              label="IdP entity id"
              name="idpIssuer"
              defaultValue={props.saml?.idpIssuer}
              hint="Optional; checked against the assertion's issuer"
            />
            <Field
              label="Groups attribute"
              name="groupsAttribute"
              defaultValue={props.saml?.groupsAttribute}
              hint="Default: groups"
            />
            <div className="actions">
              <button type="submit" name="intent" value="saml">
                Save SAML
              </button>
              <button type="submit" name="intent" value="saml-test">
                Test connection
              </button>
            </div>
          </fieldset>
        </Form>
        {props.checks?.protocol === 'saml' ? <CheckList checks={props.checks.checks} /> : null}
      </section>
    </div>
  );
}

/** The result of "Test connection", one line per step. */
function CheckList({ checks }: { checks: SsoCheck[] }) {
  const failed = checks.filter((c) => !c.ok).length;
  return (
    <div className="checks" role="status" aria-label="Connection test">
      <p>
        <strong>
          {failed === 0 ? 'Connection test passed.' : `Connection test: ${failed} of ${checks.length} checks failed.`}
        </strong>{' '}
        {failed === 0 ? 'A sign-in through the provider also checks the redirect and what it releases.' : null}
      </p>
      <ul>
        {checks.map((c) => (
          <li key={c.step} data-ok={c.ok}>
            <Badge tone={c.ok ? 'ok' : 'bad'}>{c.ok ? 'ok' : 'failed'}</Badge> <strong>{c.step}</strong>: {c.detail}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** The OpenID Connect settings as the form has them. */
export function oidcFromForm(form: FormData) {
  return {
    issuer: filled(form, 'issuer') ?? '',
    clientId: filled(form, 'clientId') ?? '',
    ...(filled(form, 'clientSecret') ? { clientSecret: filled(form, 'clientSecret') } : {}),
    ...(filled(form, 'scopes') ? { scopes: filled(form, 'scopes') } : {}),
    ...(filled(form, 'groupsClaim') ? { groupsClaim: filled(form, 'groupsClaim') } : {}),
  };
}

/** The SAML settings as the form has them. */
export function samlFromForm(form: FormData) {
  return {
    entryPoint: filled(form, 'entryPoint') ?? '',
    idpCert: filled(form, 'idpCert') ?? '',
    ...(filled(form, 'idpIssuer') ? { idpIssuer: filled(form, 'idpIssuer') } : {}),
    ...(filled(form, 'groupsAttribute') ? { groupsAttribute: filled(form, 'groupsAttribute') } : {}),
  };
}
