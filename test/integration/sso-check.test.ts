// "Test connection" of a tenant's single sign-on settings, against a real
// OpenID provider (oidc-provider) and a real SAML IdP, and through the
// tenant page as a platform admin uses it.
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdpHostPolicy } from '../../console/auth/idp-hosts.js';
import { checkOidc, checkSaml, type SsoCheck } from '../../console/auth/sso-check.js';
import { builtApp } from '../harness/browser.js';
import { TEST_CLIENT, firstSignIn, startConsole, strongPassword, type TestConsole } from '../harness/console.js';
import { startOidcProvider, type TestOidcProvider } from '../harness/oidc-provider.js';
import { freePort } from '../harness/postgres.js';
import { startSamlIdp, type TestSamlIdp } from '../harness/saml-idp.js';

const loopback = new IdpHostPolicy(['127.0.0.1']);
const redirectUri = 'http://127.0.0.1:9/auth/oidc/callback';
const spEntityId = 'http://127.0.0.1:9/auth/saml/acme';
const acsUrl = `${spEntityId}/acs`;

/** Each step's name and whether it passed, and the detail of those that did not. */
const outcome = (checks: SsoCheck[]) => checks.map((c) => [c.step, c.ok]);
const failure = (checks: SsoCheck[], step: string) => checks.find((c) => c.step === step && !c.ok)?.detail ?? '';

/** A self-signed certificate that expired yesterday. */
function expiredCertificate(): string {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 400 * 86_400_000);
  cert.validity.notAfter = new Date(Date.now() - 86_400_000);
  const name = [{ name: 'commonName', value: 'old-idp.example' }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

describe('SSO connection test', () => {
  let oidc: TestOidcProvider;
  let saml: TestSamlIdp;
  const clientId = 'holdfast-check';
  const clientSecret = 'check-secret';

  beforeAll(async () => {
    oidc = await startOidcProvider({ clientId, clientSecret, redirectUris: [redirectUri], accounts: {} });
    saml = await startSamlIdp({ spEntityId, acsUrl, users: {}, knownSpOnly: true });
  });
  afterAll(async () => {
    await oidc?.stop();
    await saml?.stop();
  });

  it('passes discovery, signing keys and client credentials against the real provider', async () => {
    const checks = await checkOidc({ issuer: oidc.issuer, clientId, clientSecret }, loopback, redirectUri);
    expect(outcome(checks)).toEqual([
      ['Discovery', true],
      ['Signing keys', true],
      ['Client', true],
    ]);
    expect(checks[1]!.detail).toBe(`1 signing key at ${oidc.issuer}/jwks`);
  });

  it('says which step failed and what to do: a wrong secret, an unknown client, no provider, a refused host', async () => {
    const wrongSecret = await checkOidc(
      { issuer: oidc.issuer, clientId, clientSecret: 'wrong' },
      loopback,
      redirectUri,
    );
    expect(outcome(wrongSecret)).toEqual([
      ['Discovery', true],
      ['Signing keys', true],
      ['Client', false],
    ]);
    expect(failure(wrongSecret, 'Client')).toMatch(
      /^the provider refused client holdfast-check \(error=invalid_client/,
    );
    expect(failure(wrongSecret, 'Client')).toContain('check the client id and secret');

    const unknown = await checkOidc({ issuer: oidc.issuer, clientId: 'nobody', clientSecret }, loopback, redirectUri);
    expect(failure(unknown, 'Client')).toContain('refused client nobody');

    const nothing = `http://127.0.0.1:${await freePort()}`;
    const absent = await checkOidc({ issuer: nothing, clientId, clientSecret }, loopback, redirectUri);
    expect(outcome(absent)).toEqual([['Discovery', false]]);
    expect(failure(absent, 'Discovery')).toContain(`could not read the OpenID configuration of ${nothing}`);

    const refused = await checkOidc({ issuer: oidc.issuer, clientId, clientSecret }, new IdpHostPolicy(), redirectUri);
    expect(failure(refused, 'Discovery')).toContain('HOLDFAST_SSO_ALLOWED_HOSTS');
  });

  it('reads the SAML certificate and sends the IdP an authentication request', async () => {
    const checks = await checkSaml({ entryPoint: saml.entryPoint, idpCert: saml.cert, spEntityId }, acsUrl, loopback);
    expect(outcome(checks)).toEqual([
      ['Certificate', true],
      ['Sign-on URL', true],
    ]);
    expect(checks[1]!.detail).toBe(`${saml.entryPoint} took an authentication request from ${spEntityId} (HTTP 200)`);
  });

  it('says when the certificate expired, the IdP does not know this service provider, or cannot be reached', async () => {
    const other = 'http://127.0.0.1:9/auth/saml/globex';
    const checks = await checkSaml(
      { entryPoint: saml.entryPoint, idpCert: expiredCertificate(), spEntityId: other },
      `${other}/acs`,
      loopback,
    );
    expect(outcome(checks)).toEqual([
      ['Certificate', false],
      ['Sign-on URL', false],
    ]);
    expect(failure(checks, 'Certificate')).toMatch(/^CN=old-idp\.example expired on \d{4}-\d\d-\d\d; paste/);
    expect(failure(checks, 'Sign-on URL')).toContain(`refused an authentication request from ${other} (HTTP 403`);
    expect(failure(checks, 'Sign-on URL')).toContain(`register the entity ID and ACS URL ${other}/acs at the IdP`);

    const gone = `http://127.0.0.1:${await freePort()}/sso`;
    const unreachable = await checkSaml({ entryPoint: gone, idpCert: saml.cert, spEntityId }, acsUrl, loopback);
    expect(failure(unreachable, 'Sign-on URL')).toContain(`${gone} could not be reached`);
  });

  describe('on the tenant page', () => {
    let c: TestConsole;
    let token: string;

    /** A tenant made by the signed-in platform admin. */
    async function createTenant(id: string): Promise<void> {
      const root = (await c.services.sessions.resolve(token))!.user;
      await c.services.tenants.create(
        { id: root.id, email: root.email, name: root.name, role: 'platform-admin', tenantId: null },
        { id, displayName: id },
        TEST_CLIENT,
      );
    }

    beforeAll(async () => {
      c = await startConsole({ database: 'pglite', remix: await builtApp() });
      token = await firstSignIn(c, c.bootstrap.email, c.bootstrap.oneTimePassword, strongPassword());
      await createTenant('acme');
    });
    afterAll(async () => c?.stop());

    /** Posts the OIDC form as the browser does without JavaScript, and returns the page it answers with. */
    async function post(fields: Record<string, string>, tenant = 'acme'): Promise<string> {
      const res = await fetch(`${c.url}/tenants/${tenant}`, {
        method: 'POST',
        headers: { cookie: `${c.app.cookieNames.session}=${token}`, origin: c.url },
        body: new URLSearchParams({ _csrf: c.services.csrf.issue(token), enabled: 'on', ...fields }),
      });
      expect(res.status).toBe(200);
      return res.text();
    }

    it('tests the settings as typed, and with the stored secret once saved, without saving anything', async () => {
      const typed = await post({ intent: 'oidc-test', issuer: oidc.issuer, clientId, clientSecret });
      expect(typed).toContain('Connection test passed.');
      expect((await c.services.tenants.forSignIn('acme'))?.oidc).toBeNull();

      // Without a secret, and none stored, the provider refuses the client.
      expect(await post({ intent: 'oidc-test', issuer: oidc.issuer, clientId })).toContain(
        'Connection test: 1 of 3 checks failed.',
      );

      await post({ intent: 'oidc', issuer: oidc.issuer, clientId, clientSecret });
      // Once saved, the secret field stays empty on the page and the stored secret is used.
      expect(await post({ intent: 'oidc-test', issuer: oidc.issuer, clientId })).toContain('Connection test passed.');
    });

    it('runs ten tests a minute for a tenant and then says when to try again', async () => {
      await createTenant('initech');
      const test = { intent: 'oidc-test', issuer: oidc.issuer, clientId, clientSecret };
      for (let i = 0; i < 10; i++) expect(await post(test, 'initech')).toContain('Connection test passed.');

      const refused = await post(test, 'initech');
      expect(refused).toMatch(/Test connection ran 10 times for this tenant in the last minute: try again in \d+ s\./);
      expect(refused).not.toContain('Connection test passed.');
      // Another tenant's tests are its own.
      expect(await post(test, 'acme')).toContain('Connection test passed.');
    });
  });
});
