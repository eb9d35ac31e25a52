// A real SAML 2.0 identity provider for tests, built on samlify, on
// http://127.0.0.1:<free port>. It reads AuthnRequests sent with the
// HTTP-Redirect binding, shows a login page (a `username` field and a
// "Sign in" button, for a browser or for fetch), and answers with a signed
// Response through an auto-submitting HTTP-POST form to the SP's ACS URL.
// It serves whichever SP asks but always answers for the SP it was started
// for, as a misconfigured real IdP would, so tests can show the SP refusing
// assertions meant for someone else.
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import forge from 'node-forge';
// The default import: Node's ESM loader does not see all of samlify's
// CommonJS exports as named exports (SamlLib is missing).
import samlify from 'samlify';
import { freePort } from './postgres.js';

export interface SamlIdpUser {
  email: string;
  name?: string;
  groups?: string[];
}

export interface SamlIdpOptions {
  spEntityId: string;
  acsUrl: string;
  /** Keyed by the username typed on the login page. */
  users: Record<string, SamlIdpUser>;
  /** Sign the Response element; default true. False sends a response whose only signature (if any) is the assertion's. */
  signResponse?: boolean;
  /** Sign the Assertion element; default true. With `signResponse: false` too, nothing is signed. */
  signAssertion?: boolean;
  /** NameID sent: the user's email (emailAddress format, the default) or the username as a persistent id. */
  nameId?: 'email' | 'persistent';
  /** Refuse (403) an AuthnRequest from any other SP entity ID, as production IdPs do; default false. */
  knownSpOnly?: boolean;
}

export interface TestSamlIdp {
  /** Single sign-on URL (HTTP-Redirect binding). GET without SAMLRequest starts an IdP-initiated sign-in. */
  entryPoint: string;
  /** PEM of the signing certificate. */
  cert: string;
  /** The IdP's entity ID, sent as Issuer. */
  issuer: string;
  stop(): Promise<void>;
}

const POST_BINDING = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const REDIRECT_BINDING = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const NAMEID_FORMAT = {
  email: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  persistent: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
} as const;

// samlify refuses to parse anything until a schema validator is set. Only
// this test IdP uses samlify, and only to read AuthnRequests made by our own
// SP code and to write responses; the code under test (node-saml) checks
// those responses without samlify. Accepting every document here is
// therefore safe, and spares the tests an XSD validator package (which
// would need Java or a native xmllint build).
samlify.setSchemaValidator({ validate: async () => 'accepted without schema validation (test IdP only)' });

interface PendingSignIn {
  /** ID of the AuthnRequest being answered; undefined for an IdP-initiated sign-in. */
  requestId: string | undefined;
  relayState: string | undefined;
}

export async function startSamlIdp(opts: SamlIdpOptions): Promise<TestSamlIdp> {
  const signResponse = opts.signResponse ?? true;
  const signAssertion = opts.signAssertion ?? true;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const entryPoint = `${base}/sso`;
  const issuer = `${base}/metadata`;
  const { key, cert } = signingKeyAndCertificate();

  const idp = samlify.IdentityProvider({
    entityID: issuer,
    privateKey: key,
    signingCert: cert,
    wantAuthnRequestsSigned: false,
    singleSignOnService: [{ Binding: REDIRECT_BINDING, Location: entryPoint }],
    // Never served (this IdP does no logout); samlify warns on every start without one.
    singleLogoutService: [{ Binding: REDIRECT_BINDING, Location: `${base}/slo` }],
  });
  // samlify decides what to sign from the SP's declared wishes.
  const sp = samlify.ServiceProvider({
    entityID: opts.spEntityId,
    authnRequestsSigned: false,
    wantAssertionsSigned: signAssertion,
    wantMessageSigned: signResponse,
    assertionConsumerService: [{ Binding: POST_BINDING, Location: opts.acsUrl }],
  });

  // Kept server-side and named by a hidden form field rather than a cookie,
  // so the IdP and an app under test on the same host share no cookies.
  const pending = new Map<string, PendingSignIn>();

  async function showLogin(url: URL, res: ServerResponse): Promise<void> {
    const samlRequest = url.searchParams.get('SAMLRequest');
    const relayState = url.searchParams.get('RelayState') ?? undefined;
    let requestId: string | undefined;
    if (samlRequest !== null) {
      const parsed = await idp.parseLoginRequest(sp, 'redirect', {
        query: Object.fromEntries(url.searchParams),
      });
      const requester = (parsed.extract as { issuer?: unknown }).issuer;
      if (opts.knownSpOnly && requester !== opts.spEntityId) {
        return page(
          res,
          403,
          'Unknown application',
          `<p>No application is registered as ${escapeXml(String(requester))}.</p>`,
        );
      }
      const id = parsed.extract.request?.id;
      if (typeof id !== 'string' || id === '') {
        return page(res, 400, 'Bad request', '<p>The SAML AuthnRequest has no ID.</p>');
      }
      requestId = id;
    }
    const token = randomUUID();
    pending.set(token, { requestId, relayState });
    loginPage(res, 200, token);
  }

  async function signIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(await readBody(req));
    const token = form.get('pending') ?? '';
    const signInState = pending.get(token);
    if (signInState === undefined) {
      return page(
        res,
        400,
        'Sign-in expired',
        '<p>This sign-in was completed or never started. Start again from the application.</p>',
      );
    }
    const username = form.get('username') ?? '';
    const user = opts.users[username];
    if (user === undefined) {
      return loginPage(res, 401, token, `Unknown user "${username}".`);
    }
    pending.delete(token);
    const xml = (template: string) =>
      responseXml(template, { ...opts, issuer, username, user, requestId: signInState.requestId });
    let samlResponse: string;
    if (!signResponse && !signAssertion) {
      // samlify always signs something, so an unsigned response is written
      // directly from the template samlify itself would fill.
      samlResponse = Buffer.from(xml(samlify.SamlLib.defaultLoginResponseTemplate.context).context).toString('base64');
    } else {
      const created = await idp.createLoginResponse(
        sp,
        { extract: {} },
        'post',
        { email: user.email },
        {
          customTagReplacement: xml,
        },
      );
      samlResponse = created.context;
    }
    const fields = {
      SAMLResponse: samlResponse,
      ...(signInState.relayState !== undefined ? { RelayState: signInState.relayState } : {}),
    };
    const inputs = Object.entries(fields).map(([n, v]) => `<input type="hidden" name="${n}" value="${escapeXml(v)}">`);
    page(
      res,
      200,
      'Signing in',
      `<form method="post" action="${escapeXml(opts.acsUrl)}">${inputs.join('')}<button type="submit">Continue</button></form>` +
        '<script>document.forms[0].submit()</script>',
    );
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', base);
    const route =
      req.method === 'GET' && url.pathname === '/sso'
        ? showLogin(url, res)
        : req.method === 'POST' && url.pathname === '/sso/login'
          ? signIn(req, res)
          : Promise.resolve(page(res, 404, 'Not found', ''));
    route.catch((err: unknown) => page(res, 400, 'SAML error', `<pre>${escapeXml(String(err))}</pre>`));
  });
  await new Promise<void>((ok) => server.listen(port, '127.0.0.1', ok));

  return {
    entryPoint,
    cert,
    issuer,
    async stop() {
      const closed = new Promise<void>((ok, fail) => server.close((err) => (err ? fail(err) : ok())));
      server.closeAllConnections();
      await closed;
    },
  };
}

/**
 * Fills samlify's Response template. samlify's own filling leaves the
 * AttributeStatement empty and cannot write multi-valued attributes, hence
 * this. One pass over the placeholders, so no value is ever re-read as one.
 */
function responseXml(
  template: string,
  at: SamlIdpOptions & { issuer: string; username: string; user: SamlIdpUser; requestId: string | undefined },
): { id: string; context: string } {
  const now = new Date();
  const later = new Date(now.getTime() + 5 * 60_000).toISOString();
  const id = `_${randomUUID()}`;
  const nameIdKind = at.nameId ?? 'email';
  const attributes: [string, string[]][] = [
    ['email', [at.user.email]],
    ['groups', at.user.groups ?? []],
    ...(at.user.name !== undefined ? [['displayName', [at.user.name]] as [string, string[]]] : []),
  ];
  const attributeStatement =
    '<saml:AttributeStatement>' +
    attributes
      .filter(([, vals]) => vals.length > 0)
      .map(
        ([name, vals]) =>
          `<saml:Attribute Name="${name}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">` +
          vals.map((v) => `<saml:AttributeValue xsi:type="xs:string">${escapeXml(v)}</saml:AttributeValue>`).join('') +
          '</saml:Attribute>',
      )
      .join('') +
    '</saml:AttributeStatement>';
  const authnStatement =
    `<saml:AuthnStatement AuthnInstant="${now.toISOString()}" SessionIndex="_${randomUUID()}"><saml:AuthnContext>` +
    '<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>' +
    '</saml:AuthnContext></saml:AuthnStatement>';
  const text: Record<string, string> = {
    ID: id,
    AssertionID: `_${randomUUID()}`,
    IssueInstant: now.toISOString(),
    Destination: at.acsUrl,
    Issuer: at.issuer,
    StatusCode: 'urn:oasis:names:tc:SAML:2.0:status:Success',
    NameIDFormat: NAMEID_FORMAT[nameIdKind],
    NameID: nameIdKind === 'email' ? at.user.email : at.username,
    SubjectConfirmationDataNotOnOrAfter: later,
    SubjectRecipient: at.acsUrl,
    ConditionsNotBefore: now.toISOString(),
    ConditionsNotOnOrAfter: later,
    Audience: at.spEntityId,
    ...(at.requestId !== undefined ? { InResponseTo: at.requestId } : {}),
  };
  // An IdP-initiated response answers no request: drop the attribute.
  const shaped = at.requestId === undefined ? template.replaceAll(' InResponseTo="{InResponseTo}"', '') : template;
  const context = shaped.replace(/\{(\w+)\}/g, (_, tag: string) => {
    if (tag === 'AuthnStatement') return authnStatement;
    if (tag === 'AttributeStatement') return attributeStatement;
    const value = text[tag];
    if (value === undefined)
      throw new Error(`samlify's Response template has a placeholder {${tag}} this test IdP does not fill`);
    return escapeXml(value);
  });
  return { id, context };
}

function signingKeyAndCertificate(): { key: string; cert: string } {
  // node:crypto makes the key (forge's pure-JS RSA takes seconds); forge
  // wraps it in a self-signed certificate.
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  // A leading 01 keeps the serial positive.
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 2 * 24 * 3600_000);
  const name = [{ name: 'commonName', value: 'holdfast-test-saml-idp' }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
  return { key: privateKey, cert: forge.pki.certificateToPem(cert) };
}

function loginPage(res: ServerResponse, status: number, token: string, problem?: string): void {
  page(
    res,
    status,
    'Sign in',
    (problem !== undefined ? `<p role="alert">${escapeXml(problem)}</p>` : '') +
      '<form method="post" action="/sso/login">' +
      `<input type="hidden" name="pending" value="${escapeXml(token)}">` +
      '<label>Username <input type="text" name="username" autocomplete="username" autofocus required></label> ' +
      '<button type="submit">Sign in</button></form>',
  );
}

function page(res: ServerResponse, status: number, title: string, body: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(
    `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>Test IdP: ${title}</h1>${body}</body></html>`,
  );
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) {
    body += String(chunk);
    if (body.length > 64 * 1024) throw new Error('request body too large');
  }
  return body;
}

/** Escapes text for XML and HTML alike, in element text and quoted attributes. */
function escapeXml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export interface Form {
  action: string;
  fields: Record<string, string>;
}

/** The first form of an IdP page, with its hidden fields, as a browser would submit it. */
export function firstForm(html: string, pageUrl: string): Form {
  const form = /<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/.exec(html);
  if (!form) throw new Error(`no form on the page:\n${html}`);
  const fields: Record<string, string> = {};
  for (const input of (form[2] ?? '').matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    fields[input[1] ?? ''] = unescapeHtml(input[2] ?? '');
  }
  return { action: new URL(unescapeHtml(form[1] ?? ''), pageUrl).href, fields };
}

function unescapeHtml(text: string): string {
  return text.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code))).replace(/&amp;/g, '&');
}
