// SAML sign-in end to end against a real IdP (samlify, in the harness): the
// console's SamlClient sends the browser there, the login form is posted as
// a browser would, and the auto-POST form's fields go to finish().
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SamlClient, type SamlSettings } from '../../console/auth/saml.js';
import { SsoError } from '../../console/auth/sso.js';
import { firstForm, startSamlIdp, type Form, type SamlIdpOptions, type TestSamlIdp } from '../harness/saml-idp.js';

const spEntityId = 'https://console.holdfast.test/sso/saml/acme';
const acsUrl = 'https://console.holdfast.test/sso/saml/acme/acs';
const users: SamlIdpOptions['users'] = {
  alice: { email: 'alice@acme.test', name: 'Alice Liddell', groups: ['holdfast-admins', 'operators'] },
  bob: { email: 'bob@acme.test', groups: ['readers'] },
  carol: { email: 'carol@acme.test' },
};
const NOT_SIGNED = "the SAML response is not signed by the identity provider's certificate configured for this tenant";

/** Browser part of a sign-in: IdP login page, then the login form; returns the form the IdP auto-posts to the ACS. */
async function signInAtIdp(url: string, username: string): Promise<Form> {
  const loginPage = await fetch(url);
  expect(loginPage.status).toBe(200);
  const html = await loginPage.text();
  expect(html).toMatch(/<input type="text" name="username"/);
  expect(html).toMatch(/<button type="submit">Sign in<\/button>/);
  const login = firstForm(html, url);
  const answer = await fetch(login.action, {
    method: 'POST',
    body: new URLSearchParams({ ...login.fields, username }),
  });
  const answerHtml = await answer.text();
  expect(answer.status, answerHtml).toBe(200);
  expect(answerHtml).toContain('document.forms[0].submit()');
  expect(answerHtml).toMatch(/<button type="submit">Continue<\/button>/);
  const acsPost = firstForm(answerHtml, login.action);
  expect(acsPost.action).toBe(acsUrl);
  return acsPost;
}

function settingsFor(idp: TestSamlIdp, overrides: Partial<SamlSettings> = {}): SamlSettings {
  return { entryPoint: idp.entryPoint, idpCert: idp.cert, idpIssuer: idp.issuer, spEntityId, ...overrides };
}

async function refusal(promise: Promise<unknown>): Promise<SsoError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SsoError);
  return err as SsoError;
}

describe('SAML sign-in', () => {
  let idp: TestSamlIdp;
  beforeAll(async () => {
    idp = await startSamlIdp({ spEntityId, acsUrl, users });
  });
  afterAll(async () => idp?.stop());

  it('signs a user in with email, groups and subject from a signed response', async () => {
    const client = new SamlClient(settingsFor(idp), acsUrl);
    const { url, authnRequestId } = await client.begin('/tenants/acme?tab=users&from=saml');
    expect(url.startsWith(`${idp.entryPoint}?SAMLRequest=`)).toBe(true);

    const { fields } = await signInAtIdp(url, 'alice');
    const { identity, relayState, inResponseTo } = await client.finish(fields);

    expect(inResponseTo).toBe(authnRequestId);
    expect(identity).toEqual({
      issuer: idp.issuer,
      subject: 'alice@acme.test',
      email: 'alice@acme.test',
      name: 'Alice Liddell',
      groups: ['holdfast-admins', 'operators'],
    });
    expect(relayState).toBe('/tenants/acme?tab=users&from=saml');
  });

  it('reads a single-valued groups attribute, and no attribute as no groups', async () => {
    const client = new SamlClient(settingsFor(idp), acsUrl);
    const bob = await client.finish((await signInAtIdp((await client.begin('/')).url, 'bob')).fields);
    expect(bob.identity.groups).toEqual(['readers']);
    const carol = await client.finish((await signInAtIdp((await client.begin('/')).url, 'carol')).fields);
    expect(carol.identity).toEqual({
      issuer: idp.issuer,
      subject: 'carol@acme.test',
      email: 'carol@acme.test',
      groups: [],
    });
  });

  it('takes the email from the configured attribute when the NameID is an opaque id', async () => {
    const persistent = await startSamlIdp({ spEntityId, acsUrl, users, nameId: 'persistent' });
    try {
      const client = new SamlClient(settingsFor(persistent, { emailAttribute: 'email' }), acsUrl);
      const { identity } = await client.finish((await signInAtIdp((await client.begin('/')).url, 'bob')).fields);
      expect(identity).toEqual({
        issuer: persistent.issuer,
        subject: 'bob',
        email: 'bob@acme.test',
        groups: ['readers'],
      });

      const misnamed = new SamlClient(settingsFor(persistent, { emailAttribute: 'mailAddress' }), acsUrl);
      const err = await refusal(misnamed.finish((await signInAtIdp((await misnamed.begin('/')).url, 'bob')).fields));
      expect(err.message).toContain('no "mailAddress" attribute');
    } finally {
      await persistent.stop();
    }
  });

  it('refuses a response signed with a different certificate than the tenant configured', async () => {
    const impostor = await startSamlIdp({ spEntityId, acsUrl, users });
    try {
      // The tenant trusts `idp`'s certificate, but the response comes from a
      // server with its own key.
      const client = new SamlClient(
        settingsFor(idp, { entryPoint: impostor.entryPoint, idpIssuer: undefined }),
        acsUrl,
      );
      const { fields } = await signInAtIdp((await client.begin('/')).url, 'alice');
      const err = await refusal(client.finish(fields));
      expect(err.message).toContain(NOT_SIGNED);
    } finally {
      await impostor.stop();
    }
  });

  it.each([
    ['nothing is signed', { signResponse: false, signAssertion: false }],
    ['only the assertion is signed', { signResponse: false }],
    ['only the response is signed', { signAssertion: false }],
  ])('refuses a response in which %s', async (_, signing) => {
    const partlySigned = await startSamlIdp({ spEntityId, acsUrl, users, ...signing });
    try {
      const client = new SamlClient(settingsFor(partlySigned), acsUrl);
      const { fields } = await signInAtIdp((await client.begin('/')).url, 'alice');
      const signatures =
        Buffer.from(fields.SAMLResponse ?? '', 'base64')
          .toString()
          .match(/<ds:Signature /g) ?? [];
      expect(signatures).toHaveLength(Object.keys(signing).length === 2 ? 0 : 1);
      const err = await refusal(client.finish(fields));
      expect(err.message).toContain(NOT_SIGNED);
    } finally {
      await partlySigned.stop();
    }
  });

  it('refuses the same response a second time', async () => {
    const client = new SamlClient(settingsFor(idp), acsUrl);
    const { fields } = await signInAtIdp((await client.begin('/')).url, 'alice');
    await client.finish(fields);
    const err = await refusal(client.finish(fields));
    expect(err.message).toMatch(/does not answer a sign-in this console started, or it was already used/);
  });

  it('refuses the same response posted twice at once', async () => {
    const client = new SamlClient(settingsFor(idp), acsUrl);
    const { fields } = await signInAtIdp((await client.begin('/')).url, 'alice');
    const results = await Promise.allSettled([client.finish(fields), client.finish(fields)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('refuses a response to a request this client did not make', async () => {
    // Another SamlClient with the same settings stands for another console
    // instance or tenant: its request ID is unknown here.
    const other = new SamlClient(settingsFor(idp), acsUrl);
    const client = new SamlClient(settingsFor(idp), acsUrl);
    const { fields } = await signInAtIdp((await other.begin('/')).url, 'alice');
    const err = await refusal(client.finish(fields));
    expect(err.message).toMatch(/does not answer a sign-in this console started/);
  });

  it('refuses an unsolicited, IdP-initiated response', async () => {
    const client = new SamlClient(settingsFor(idp), acsUrl);
    const { fields } = await signInAtIdp(`${idp.entryPoint}?RelayState=%2F`, 'alice');
    expect(Buffer.from(fields.SAMLResponse ?? '', 'base64').toString()).not.toContain('InResponseTo');
    const err = await refusal(client.finish(fields));
    expect(err.message).toMatch(/did not ask for/);
  });

  it('refuses an assertion meant for another service provider', async () => {
    const elsewhere = await startSamlIdp({ spEntityId: 'https://other.example/saml', acsUrl, users });
    try {
      const client = new SamlClient(settingsFor(elsewhere), acsUrl);
      const { fields } = await signInAtIdp((await client.begin('/')).url, 'alice');
      const err = await refusal(client.finish(fields));
      expect(err.message).toContain('meant for another service provider');
      expect(err.message).toContain(`"${spEntityId}"`);
    } finally {
      await elsewhere.stop();
    }
  });

  it('refuses an assertion from an issuer other than the configured one', async () => {
    const client = new SamlClient(settingsFor(idp, { idpIssuer: 'https://idp.other.example' }), acsUrl);
    const { fields } = await signInAtIdp((await client.begin('/')).url, 'alice');
    const err = await refusal(client.finish(fields));
    expect(err.message).toContain(`issued by "${idp.issuer}"`);
  });

  it('answers an unknown username with 401 and lets the person try again', async () => {
    const client = new SamlClient(settingsFor(idp), acsUrl);
    const url = (await client.begin('/')).url;
    const login = firstForm(await (await fetch(url)).text(), url);
    const wrong = await fetch(login.action, {
      method: 'POST',
      body: new URLSearchParams({ ...login.fields, username: 'mallory' }),
    });
    expect(wrong.status).toBe(401);
    const retry = firstForm(await wrong.text(), login.action);
    const right = await fetch(retry.action, {
      method: 'POST',
      body: new URLSearchParams({ ...retry.fields, username: 'bob' }),
    });
    expect(right.status).toBe(200);
    const { identity } = await client.finish(firstForm(await right.text(), retry.action).fields);
    expect(identity.email).toBe('bob@acme.test');
  });

  it('refuses settings whose certificate is not a certificate', () => {
    expect(() => new SamlClient(settingsFor(idp, { idpCert: 'not a certificate' }), acsUrl)).toThrow(SsoError);
  });

  it('publishes SP metadata naming the entity ID and the ACS URL', () => {
    const xml = new SamlClient(settingsFor(idp), acsUrl).metadata();
    expect(xml).toContain(`entityID="${spEntityId}"`);
    expect(xml).toContain(`Location="${acsUrl}"`);
    expect(xml).toContain('WantAssertionsSigned="true"');
  });
});
