// Console single sign-on over OpenID Connect against a real provider
// (oidc-provider), driven the way a browser would: plain fetch, a cookie
// jar, and the provider's own login and consent forms.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OidcClient, type OidcPending, type OidcSettings } from '../../console/auth/oidc.js';
import { IdpHostPolicy } from '../../console/auth/idp-hosts.js';
import { SsoError } from '../../console/auth/sso.js';
import { startOidcProvider, type TestOidcProvider } from '../harness/oidc-provider.js';
import { freePort } from '../harness/postgres.js';

interface Cookie {
  name: string;
  value: string;
  path: string;
}

/** Enough of RFC 6265 for one host: names, paths, deletion. */
class CookieJar {
  private cookies: Cookie[] = [];

  /** Names of every cookie ever set. */
  readonly names = new Set<string>();

  store(response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = header.split(';').map((part) => part.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = '/';
      let expired = false;
      for (const attribute of attributes) {
        const [key = '', val = ''] = attribute.split('=', 2);
        if (key.toLowerCase() === 'path') path = val;
        if (key.toLowerCase() === 'max-age' && Number(val) <= 0) expired = true;
        if (key.toLowerCase() === 'expires' && Date.parse(val) <= Date.now()) expired = true;
      }
      this.names.add(name);
      this.cookies = this.cookies.filter((c) => !(c.name === name && c.path === path));
      if (!expired) this.cookies.push({ name, value, path });
    }
  }

  header(url: URL): string {
    return this.cookies
      .filter((c) => url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }
}

interface Form {
  action: string;
  fields: Record<string, string>;
}

function unescapeHtml(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

// The provider's development pages each have one form of their own.
function parseForm(html: string): Form | undefined {
  const form = /<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/.exec(html);
  if (!form?.[1] || form[2] === undefined) return undefined;
  const fields: Record<string, string> = {};
  for (const input of form[2].matchAll(/<input[^>]*>/g)) {
    const name = /name="([^"]*)"/.exec(input[0])?.[1];
    if (name !== undefined) fields[name] = unescapeHtml(/value="([^"]*)"/.exec(input[0])?.[1] ?? '');
  }
  return { action: unescapeHtml(form[1]), fields };
}

interface BrowserOptions {
  login: string;
  /** Press "Cancel" on the login page instead of signing in. */
  abort?: boolean;
  /** Filled with the pages answered and the cookies the provider set. */
  trace?: { prompts: string[]; cookies: Set<string> };
}

/**
 * Follows the provider's redirects and forms from the authorization URL until
 * it sends the browser to `redirectUri`; returns that URL (where the console's
 * callback would run).
 */
async function browse(authorizationUrl: string, redirectUri: string, options: BrowserOptions): Promise<URL> {
  const jar = new CookieJar();
  let url = new URL(authorizationUrl);
  let post: URLSearchParams | undefined;
  const visited: string[] = [];
  for (let step = 0; step < 12; step++) {
    visited.push(`${post ? 'POST' : 'GET'} ${url.pathname}`);
    const response = await fetch(url, {
      method: post ? 'POST' : 'GET',
      redirect: 'manual',
      headers: {
        cookie: jar.header(url),
        ...(post ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(post ? { body: post.toString() } : {}),
    });
    jar.store(response);
    post = undefined;
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location !== null) {
      const next = new URL(location, url);
      if (next.href.startsWith(`${redirectUri}?`)) {
        jar.names.forEach((name) => options.trace?.cookies.add(name));
        return next;
      }
      url = next;
      continue;
    }
    const body = await response.text();
    const form = response.ok ? parseForm(body) : undefined;
    if (form === undefined) {
      throw new Error(
        `unexpected ${response.status} from ${url.href} after ${visited.join(' → ')}: ${body.slice(0, 500)}`,
      );
    }
    options.trace?.prompts.push(form.fields.prompt ?? '?');
    if (form.fields.prompt === 'login' && options.abort) {
      url = new URL(`${url.pathname.replace(/\/$/, '')}/abort`, url);
      continue;
    }
    if (form.fields.prompt === 'login') {
      form.fields.login = options.login;
      form.fields.password = 'any password: the development login page accepts any';
    }
    post = new URLSearchParams(form.fields);
    url = new URL(form.action, url);
  }
  throw new Error(`no redirect to ${redirectUri} after ${visited.join(' → ')}`);
}

// The provider runs on loopback, which the console refuses unless the platform admin allows it.
const loopbackAllowed = new IdpHostPolicy(['127.0.0.0/8', '::1']);

describe('OpenID Connect sign-in', () => {
  const clientId = 'holdfast-console';
  let idp: TestOidcProvider;
  let redirectUri: string;
  let settings: OidcSettings;

  beforeAll(async () => {
    // Nothing listens here: the test stops at the redirect, as the browser
    // would hand it to the console's callback route.
    redirectUri = `http://127.0.0.1:${await freePort()}/auth/oidc/callback`;
    idp = await startOidcProvider({
      clientId,
      clientSecret: 'test-secret-with-/+=-characters',
      redirectUris: [redirectUri],
      accounts: {
        alice: { email: 'alice@example.com', name: 'Alice Liddell', groups: ['holdfast-admins', 'ops'] },
        bob: { email: 'bob@example.com' },
        nomail: { email: '', name: 'No Mail' },
      },
    });
    settings = {
      issuer: idp.issuer,
      clientId,
      clientSecret: 'test-secret-with-/+=-characters',
      scopes: 'openid email profile groups',
    };
  });

  afterAll(async () => {
    await idp?.stop();
  });

  async function signIn(
    login: string,
    overrides: Partial<OidcSettings> = {},
  ): Promise<{ client: OidcClient; callback: URL; pending: OidcPending }> {
    const client = await OidcClient.discover({ ...settings, ...overrides }, loopbackAllowed);
    const { url, pending } = client.begin(redirectUri);
    const callback = await browse(url, redirectUri, { login });
    return { client, callback, pending };
  }

  it('signs in through login and consent and returns subject, email, name and groups', async () => {
    const client = await OidcClient.discover(settings, loopbackAllowed);
    const { url, pending } = client.begin(redirectUri);

    const sent = new URL(url);
    expect(sent.searchParams.get('code_challenge_method')).toBe('S256');
    expect(sent.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sent.searchParams.get('state')).toBe(pending.state);
    expect(sent.searchParams.get('nonce')).toBe(pending.nonce);
    expect(sent.searchParams.has('code_verifier')).toBe(false);

    const trace = { prompts: [] as string[], cookies: new Set<string>() };
    const callback = await browse(url, redirectUri, { login: 'alice', trace });
    expect(trace.prompts).toEqual(['login', 'consent']);
    // Renamed so they cannot collide with the console's cookies on 127.0.0.1.
    expect([...trace.cookies].filter((name) => !name.startsWith('_oidc_'))).toEqual([]);
    expect(callback.searchParams.get('code')).toBeTruthy();
    expect(callback.searchParams.get('state')).toBe(pending.state);

    await expect(client.finish(callback, pending)).resolves.toEqual({
      issuer: idp.issuer,
      subject: 'alice',
      email: 'alice@example.com',
      name: 'Alice Liddell',
      groups: ['holdfast-admins', 'ops'],
    });
  });

  it('gives an empty group list and no name when the provider has none', async () => {
    const { client, callback, pending } = await signIn('bob');
    await expect(client.finish(callback, pending)).resolves.toEqual({
      issuer: idp.issuer,
      subject: 'bob',
      email: 'bob@example.com',
      groups: [],
    });
  });

  it('refuses an answer whose state is not the one this sign-in sent', async () => {
    const { client, callback, pending } = await signIn('alice');
    const error = await client.finish(callback, { ...pending, state: 'someone-elses-state' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SsoError);
    expect((error as SsoError).message).toMatch(/state mismatch.*start the sign-in again/);

    // A tampered state in the URL is caught the same way.
    const tampered = new URL(callback);
    tampered.searchParams.set('state', 'forged');
    await expect(client.finish(tampered, pending)).rejects.toThrow(/state mismatch/);
  });

  it('refuses a code redeemed with the wrong PKCE verifier, and a code used twice', async () => {
    const { client, callback, pending } = await signIn('alice');
    await expect(client.finish(callback, { ...pending, codeVerifier: 'x'.repeat(43) })).rejects.toThrow(
      /rejected the authorization code.*PKCE verifier did not match/,
    );

    const second = await signIn('alice');
    await second.client.finish(second.callback, second.pending);
    await expect(second.client.finish(second.callback, second.pending)).rejects.toThrow(
      /rejected the authorization code/,
    );
  });

  it('refuses an ID token whose nonce is not the one this sign-in sent', async () => {
    const { client, callback, pending } = await signIn('alice');
    const error = await client.finish(callback, { ...pending, nonce: 'another-nonce' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SsoError);
    expect((error as SsoError).message).toMatch(/nonce/);
  });

  it('reports the provider refusing the sign-in', async () => {
    const client = await OidcClient.discover(settings, loopbackAllowed);
    const { url, pending } = client.begin(redirectUri);
    const callback = await browse(url, redirectUri, { login: 'alice', abort: true });
    expect(callback.searchParams.get('error')).toBe('access_denied');
    await expect(client.finish(callback, pending)).rejects.toThrow(
      new SsoError(
        "the identity provider refused the sign-in: error=access_denied (End-User aborted interaction); if this persists, ask the provider's administrator whether you may use client holdfast-console",
      ),
    );
  });

  it('reports an unknown login name as refused by the provider', async () => {
    const { client, callback, pending } = await signIn('mallory');
    expect(callback.searchParams.get('error')).toBe('access_denied');
    await expect(client.finish(callback, pending)).rejects.toThrow(
      /refused the sign-in: error=access_denied \(no account named "mallory" at this provider\)/,
    );
  });

  it('says what to fix when the provider returns no email', async () => {
    const message = `the provider did not return an email; add the email scope/claim for client ${clientId} at ${settings.issuer}`;

    // The account has no address at the provider.
    const noAddress = await signIn('nomail');
    await expect(noAddress.client.finish(noAddress.callback, noAddress.pending)).rejects.toThrow(message);

    // The console was configured without the email scope.
    const noScope = await signIn('alice', { scopes: 'openid profile groups' });
    const error = await noScope.client.finish(noScope.callback, noScope.pending).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SsoError);
    expect((error as SsoError).message).toBe(`${message} (requested scopes: openid profile groups)`);
  });

  it('reads groups from the configured claim only', async () => {
    const { client, callback, pending } = await signIn('alice', { groupsClaim: 'roles' });
    await expect(client.finish(callback, pending)).resolves.toMatchObject({ subject: 'alice', groups: [] });
  });

  it('requires https for an issuer that is not on this machine', async () => {
    const error = await OidcClient.discover(
      { issuer: 'http://idp.example.com/realms/main', clientId },
      loopbackAllowed,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SsoError);
    expect((error as SsoError).message).toMatch(/http; https is required/);

    await expect(OidcClient.discover({ issuer: 'not a url', clientId }, loopbackAllowed)).rejects.toThrow(
      /is not a URL/,
    );
  });

  it('sends nothing to loopback, link-local or private addresses unless the platform admin allows them', async () => {
    for (const policy of [new IdpHostPolicy(), new IdpHostPolicy(['10.0.0.0/8', 'idp.corp.test'])]) {
      const refused = await OidcClient.discover(settings, policy).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(SsoError);
      expect((refused as SsoError).message).toMatch(
        /resolves to 127\.0\.0\.1, a loopback, private or link-local address.*HOLDFAST_SSO_ALLOWED_HOSTS/,
      );
    }
    // A name that resolves to loopback is refused as well as the address itself.
    const byName = idp.issuer.replace('127.0.0.1', 'localhost');
    await expect(OidcClient.discover({ ...settings, issuer: byName }, new IdpHostPolicy())).rejects.toThrow(
      /host localhost resolves to .*loopback/,
    );
    for (const internal of ['https://169.254.169.254/latest', 'https://10.1.2.3/realms/x', 'https://[fd00::1]/']) {
      await expect(OidcClient.discover({ issuer: internal, clientId }, new IdpHostPolicy())).rejects.toThrow(
        /a loopback, private or link-local address/,
      );
    }
    // Allowed by CIDR or by exact host name, the same provider works.
    await expect(OidcClient.discover(settings, new IdpHostPolicy(['127.0.0.1/32']))).resolves.toBeInstanceOf(
      OidcClient,
    );
    await expect(
      OidcClient.discover({ ...settings, issuer: byName }, new IdpHostPolicy(['LOCALHOST'])),
    ).rejects.toThrow(/could not read the OpenID configuration/);
  });

  it('refuses at connect a name that resolves to an internal address after the check passed (DNS rebinding)', async () => {
    // As if the name had resolved to a public address for the check a moment before.
    class CheckedEarlier extends IdpHostPolicy {
      override async check(): Promise<void> {}
    }
    const url = `${idp.issuer.replace('127.0.0.1', 'localhost')}/.well-known/openid-configuration`;
    const failed = await new CheckedEarlier()
      .fetch()(url, {
        method: 'GET',
        headers: {},
        body: undefined,
        redirect: 'manual',
        signal: AbortSignal.timeout(5_000),
      })
      .catch((e: unknown) => e);
    expect((failed as Error).cause).toBeInstanceOf(SsoError);
    expect(((failed as Error).cause as Error).message).toMatch(/host localhost resolves to .*a loopback/);
    // Allowed by name, the same request goes through.
    const allowed = await new IdpHostPolicy(['localhost']).fetch()(url, {
      method: 'GET',
      headers: {},
      body: undefined,
      redirect: 'manual',
      signal: AbortSignal.timeout(5_000),
    });
    expect(allowed.status).toBe(200);
  });

  it('explains an issuer that does not match the provider', async () => {
    // Same server, other spelling of the host: the discovery document's
    // issuer then differs from the configured one.
    const other = idp.issuer.replace('127.0.0.1', 'localhost');
    await expect(OidcClient.discover({ ...settings, issuer: other }, loopbackAllowed)).rejects.toThrow(
      /could not read the OpenID configuration of .*exactly the provider's issuer/,
    );
  });

  it('refuses a wrong client secret with advice', async () => {
    const { client, callback, pending } = await signIn('alice', { clientSecret: 'wrong' });
    await expect(client.finish(callback, pending)).rejects.toThrow(
      /rejected the credentials of client holdfast-console.*check the client id and secret/,
    );
  });
});
