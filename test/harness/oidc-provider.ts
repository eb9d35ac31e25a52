// A real OpenID Provider (panva's oidc-provider) in this process, for single
// sign-on tests: one static confidential client, accounts from a table, and
// the provider's own development login page (any login name, any password;
// the name picks the account).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
// @ts-expect-error -- oidc-provider ships no type declarations; the few parts used here are typed below.
import OidcProviderModule, { errors as providerErrors, interactionPolicy as providerPolicy } from 'oidc-provider';
import { freePort } from './postgres.js';

export interface TestAccount {
  /** '' stands for an account that has no address at the provider: no email claim at all. */
  email: string;
  name?: string;
  groups?: string[];
}

export interface TestOidcProviderOptions {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  /** Keyed by the login name typed on the provider's login page (= `sub`). */
  accounts: Record<string, TestAccount>;
}

export interface TestOidcProvider {
  /** `http://127.0.0.1:<port>`: the exact string the ID tokens carry as `iss`. */
  issuer: string;
  stop(): Promise<void>;
}

interface ProviderAccount {
  accountId: string;
  claims(): Promise<Record<string, unknown>>;
}

interface ProviderInstance {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  on(event: 'server_error', listener: (ctx: unknown, err: Error) => void): void;
}

type ProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance;

/** What a policy check sees of the request. */
interface CheckContext {
  oidc: { session: { accountId?: string }; account?: ProviderAccount };
}
interface InteractionCheck {
  reason: string;
}
interface InteractionPolicy extends Array<{ name: string; checks: InteractionCheck[] }> {
  get(name: 'login' | 'consent'): { checks: InteractionCheck[] };
}
interface InteractionPolicyModule {
  base: () => InteractionPolicy;
  Check: new (reason: string, description: string, check: (ctx: CheckContext) => boolean) => InteractionCheck;
}

const Provider = OidcProviderModule as ProviderConstructor;
const { base: basePolicy, Check } = providerPolicy as InteractionPolicyModule;
const { AccessDenied } = providerErrors as { AccessDenied: new (description: string) => Error };

/**
 * The default policy plus one check: the development login page accepts any
 * name, and for a name with no account the provider would otherwise go on to
 * consent and fail there with a 500. This ends the sign-in the way a real
 * provider refuses a person: back at the client with error=access_denied.
 */
function interactionPolicy(): InteractionPolicy {
  const policy = basePolicy();
  policy.get('login').checks.push(
    new Check('unknown_account', 'the login name is not a known account', (ctx) => {
      if (ctx.oidc.session.accountId !== undefined && ctx.oidc.account === undefined) {
        throw new AccessDenied(`no account named "${ctx.oidc.session.accountId}" at this provider`);
      }
      return false;
    }),
  );
  return policy;
}

export async function startOidcProvider(opts: TestOidcProviderOptions): Promise<TestOidcProvider> {
  const port = await freePort();
  // One spelling of the host everywhere: openid-client compares `iss` byte
  // for byte, so "localhost" here and "127.0.0.1" in a test would not match.
  const issuer = `http://127.0.0.1:${port}`;

  // Our own signing key, so the provider does not fall back to (and warn
  // about) its built-in development keys.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-signing', alg: 'RS256', use: 'sig' };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: opts.clientId,
        client_secret: opts.clientSecret,
        redirect_uris: opts.redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    async findAccount(_ctx: unknown, id: string): Promise<ProviderAccount | undefined> {
      const account = opts.accounts[id];
      if (account === undefined) return undefined;
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            ...(account.email === '' ? {} : { email: account.email, email_verified: true }),
            ...(account.name === undefined ? {} : { name: account.name }),
            groups: account.groups ?? [],
          };
        },
      };
    },
    // Each key is also a scope; "groups" is not standard, so the console must
    // request it (as it must with most real providers).
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    features: {
      devInteractions: { enabled: true },
    },
    interactions: { policy: interactionPolicy() },
    // The console must send a S256 challenge even as a confidential client.
    pkce: { required: () => true },
    // The console under test may also run on 127.0.0.1, and cookies ignore
    // ports: the provider's defaults (`_session`, `_interaction`) could be
    // overwritten by, or overwrite, the console's own.
    cookies: {
      names: { session: '_oidc_session', interaction: '_oidc_interaction', resume: '_oidc_interaction_resume' },
      keys: [randomBytes(32).toString('base64url')],
    },
    jwks: { keys: [signingKey] },
    // Explicit lifetimes: the defaults work but log a warning each.
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 600,
      Interaction: 600,
      Session: 600,
      Grant: 600,
    },
  });

  // Without this, a 500 inside the provider shows up in a test only as an
  // HTML error page.
  provider.on('server_error', (_ctx, err) => {
    console.error('oidc-provider server_error:', err);
  });

  const server = createServer(provider.callback());
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', ok);
  });

  return {
    issuer,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((ok, fail) => server.close((err) => (err ? fail(err) : ok())));
    },
  };
}
