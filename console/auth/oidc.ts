// OpenID Connect sign-in for one tenant's identity provider: authorization
// code flow with PKCE (S256), state and nonce, over openid-client 6.
import { createHash } from 'node:crypto';
import {
  AuthorizationResponseError,
  ClientError,
  ClientSecretBasic,
  ClientSecretPost,
  None,
  ResponseBodyError,
  WWWAuthenticateChallengeError,
  allowInsecureRequests,
  authorizationCodeGrant,
  customFetch,
  buildAuthorizationUrl,
  discovery,
  fetchUserInfo,
  genericGrantRequest,
  randomNonce,
  randomPKCECodeVerifier,
  randomState,
  type ClientAuth,
  type Configuration,
} from 'openid-client';
import type { IdpHostPolicy } from './idp-hosts.js';
import { SsoError, type SsoCheck, type SsoIdentity } from './sso.js';

export interface OidcSettings {
  /** The provider's issuer identifier, exactly as it appears in `iss`. */
  issuer: string;
  clientId: string;
  /** Absent for a public client (PKCE alone then protects the code). */
  clientSecret?: string;
  /** Space-separated; default `openid email profile`. */
  scopes?: string;
  /** Claim holding the person's groups; default `groups`. */
  groupsClaim?: string;
}

/** What the console keeps (server-side or sealed) between begin and finish. */
export interface OidcPending {
  state: string;
  nonce: string;
  codeVerifier: string;
  redirectUri: string;
}

const defaultScopes = 'openid email profile';
const defaultGroupsClaim = 'groups';

// Plain http is acceptable only when nothing leaves the machine.
const loopbackHosts = new Set(['127.0.0.1', 'localhost', '[::1]']);

export class OidcClient {
  private constructor(
    private readonly config: Configuration,
    private readonly settings: Required<Pick<OidcSettings, 'issuer' | 'clientId' | 'scopes' | 'groupsClaim'>>,
  ) {}

  /** `hosts` decides which addresses discovery, token and userinfo requests may reach. */
  static async discover(settings: OidcSettings, hosts: IdpHostPolicy): Promise<OidcClient> {
    let issuer: URL;
    try {
      issuer = new URL(settings.issuer);
    } catch {
      throw new SsoError(
        `OIDC issuer "${settings.issuer}" is not a URL; set it to the provider's issuer, e.g. https://login.example.com/realms/main`,
      );
    }
    const insecure = issuer.protocol === 'http:';
    if (insecure && !loopbackHosts.has(issuer.hostname)) {
      throw new SsoError(
        `OIDC issuer ${settings.issuer} uses http; https is required (plain http is allowed only for a provider on this machine: 127.0.0.1, localhost or ::1)`,
      );
    }
    if (!insecure && issuer.protocol !== 'https:') {
      throw new SsoError(`OIDC issuer ${settings.issuer} must be an https:// URL`);
    }

    let config: Configuration;
    const checkedFetch = hosts.fetch();
    try {
      await hosts.check(issuer);
      config = await discovery(issuer, settings.clientId, undefined, clientAuthentication(settings.clientSecret), {
        // openid-client enables http for the discovery request itself only
        // when it finds this exact function in `execute`, so no wrapper.
        execute: insecure ? [allowInsecureRequests] : [],
        timeout: 10,
        [customFetch]: checkedFetch,
      });
      // The discovered endpoints may name other hosts; each request is checked again.
      config[customFetch] = checkedFetch;
    } catch (err) {
      if (err instanceof SsoError) throw err;
      throw new SsoError(
        `could not read the OpenID configuration of ${settings.issuer} (${describe(err)}); check that the issuer URL is exactly the provider's issuer and that the console can reach it`,
        { cause: err },
      );
    }
    return new OidcClient(config, {
      issuer: settings.issuer,
      clientId: settings.clientId,
      scopes: settings.scopes ?? defaultScopes,
      groupsClaim: settings.groupsClaim ?? defaultGroupsClaim,
    });
  }

  /**
   * What a configuration check can learn without a person signing in: that
   * the provider publishes signing keys, and whether it accepts this client's
   * credentials. The latter redeems a made-up authorization code: a provider
   * that knows the client refuses the code (invalid_grant); one that does
   * not, or not with this secret, refuses the client (invalid_client).
   */
  async probe(redirectUri: string): Promise<SsoCheck[]> {
    const metadata = this.config.serverMetadata();
    const checks: SsoCheck[] = [];
    const get = this.config[customFetch] ?? fetch;
    if (!metadata.jwks_uri) {
      checks.push({ step: 'Signing keys', ok: false, detail: `${this.settings.issuer} publishes no jwks_uri` });
    } else {
      try {
        const res = await get(metadata.jwks_uri, {
          method: 'GET',
          headers: { accept: 'application/json' },
          body: undefined,
          redirect: 'manual',
          signal: AbortSignal.timeout(10_000),
        });
        const keys = ((await res.json()) as { keys?: { use?: string }[] }).keys ?? [];
        const signing = keys.filter((k) => k.use === undefined || k.use === 'sig').length;
        checks.push(
          res.ok && signing > 0
            ? {
                step: 'Signing keys',
                ok: true,
                detail: `${signing} signing key${signing === 1 ? '' : 's'} at ${metadata.jwks_uri}`,
              }
            : {
                step: 'Signing keys',
                ok: false,
                detail: `${metadata.jwks_uri} answered HTTP ${res.status} with no signing key`,
              },
        );
      } catch (err) {
        checks.push({ step: 'Signing keys', ok: false, detail: `${metadata.jwks_uri}: ${describe(err)}` });
      }
    }
    const client = `client ${this.settings.clientId}`;
    try {
      await genericGrantRequest(this.config, 'authorization_code', {
        code: randomState(),
        redirect_uri: redirectUri,
        code_verifier: randomPKCECodeVerifier(),
      });
      checks.push({
        step: 'Client',
        ok: false,
        detail: `${this.settings.issuer} accepted a made-up authorization code`,
      });
    } catch (err) {
      const oauth = oauthErrorOf(err);
      checks.push(
        oauth?.error === 'invalid_grant'
          ? { step: 'Client', ok: true, detail: `${this.settings.issuer} knows ${client} and accepted its credentials` }
          : oauth?.error === 'invalid_client'
            ? {
                step: 'Client',
                ok: false,
                detail: `the provider refused ${client} (${oauth.text}); check the client id and secret`,
              }
            : oauth?.error === 'unauthorized_client'
              ? {
                  step: 'Client',
                  ok: false,
                  detail: `${client} may not use the authorization code flow (${oauth.text}); allow it at the provider`,
                }
              : { step: 'Client', ok: false, detail: `the token endpoint answered: ${oauth?.text ?? describe(err)}` },
      );
    }
    return checks;
  }

  /** The URL to send the browser to, and what `finish` needs to check the answer. */
  begin(redirectUri: string): { url: string; pending: OidcPending } {
    const pending: OidcPending = {
      state: randomState(),
      nonce: randomNonce(),
      codeVerifier: randomPKCECodeVerifier(),
      redirectUri,
    };
    const url = buildAuthorizationUrl(this.config, {
      redirect_uri: redirectUri,
      scope: this.settings.scopes,
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: pkceChallenge(pending.codeVerifier),
      code_challenge_method: 'S256',
    });
    return { url: url.href, pending };
  }

  /**
   * Checks the provider's answer at the redirect URI and redeems the code.
   * Throws SsoError with a message that can be shown to the person signing in.
   */
  async finish(callbackUrl: URL, pending: OidcPending): Promise<SsoIdentity> {
    const params = callbackUrl.searchParams;
    // Checked here as well as in openid-client, whose message for this is a
    // generic "invalid response encountered".
    if (params.get('state') !== pending.state) {
      throw new SsoError(
        'this sign-in answer does not belong to the sign-in started in this browser (state mismatch); start the sign-in again',
      );
    }
    const error = params.get('error');
    if (error !== null) {
      const description = params.get('error_description');
      throw new SsoError(
        `the identity provider refused the sign-in: error=${error}${description ? ` (${description})` : ''}; ` +
          `if this persists, ask the provider's administrator whether you may use client ${this.settings.clientId}`,
      );
    }

    // The token request must repeat the redirect URI the authorization request
    // used. Behind a reverse proxy the URL the console sees differs from the
    // public one (scheme, host), so rebuild it from what begin() sent.
    const current = new URL(pending.redirectUri);
    current.search = callbackUrl.search;

    let tokens: Awaited<ReturnType<typeof authorizationCodeGrant>>;
    try {
      tokens = await authorizationCodeGrant(this.config, current, {
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        pkceCodeVerifier: pending.codeVerifier,
      });
    } catch (err) {
      throw new SsoError(
        `signing in with ${this.settings.issuer} failed: ${tokenAdvice(err, this.settings.clientId)}`,
        { cause: err },
      );
    }

    const idClaims = tokens.claims();
    if (idClaims === undefined) {
      // Unreachable with expectedNonce set (openid-client then requires an
      // ID token), kept so the types hold without a non-null assertion.
      throw new SsoError(
        `${this.settings.issuer} returned no ID token; check that the client requests the openid scope`,
      );
    }
    let claims: Record<string, unknown> = { ...idClaims };

    // Many providers (oidc-provider by default, Okta, Keycloak with some
    // mappers) put scope-requested claims only in userinfo when an access
    // token is issued.
    const groupsClaim = this.settings.groupsClaim;
    const missing = claims.email === undefined || claims[groupsClaim] === undefined || claims.name === undefined;
    if (missing && this.config.serverMetadata().userinfo_endpoint !== undefined) {
      try {
        // Passing the ID token's subject makes openid-client refuse userinfo
        // about someone else.
        const userinfo = await fetchUserInfo(this.config, tokens.access_token, idClaims.sub);
        claims = { ...userinfo, ...claims };
      } catch (err) {
        throw new SsoError(`reading the userinfo of ${this.settings.issuer} failed: ${describe(err)}`, { cause: err });
      }
    }

    const email = claims.email;
    if (typeof email !== 'string' || email === '') {
      throw new SsoError(
        `the provider did not return an email; add the email scope/claim for client ${this.settings.clientId} at ${this.settings.issuer} (requested scopes: ${this.settings.scopes})`,
      );
    }
    // An unverified address could belong to someone else; matching people by
    // it would let them take over a console account.
    if (claims.email_verified === false) {
      throw new SsoError(
        `the provider says the email ${email} is not verified; verify it at ${this.settings.issuer} and sign in again`,
      );
    }
    const name = claims.name;
    return {
      issuer: this.settings.issuer,
      subject: idClaims.sub,
      email,
      ...(typeof name === 'string' && name !== '' ? { name } : {}),
      groups: groupsFrom(claims[groupsClaim], groupsClaim),
    };
  }
}

function clientAuthentication(secret: string | undefined): ClientAuth {
  if (secret === undefined || secret === '') return None();
  const basic = ClientSecretBasic(secret);
  const post = ClientSecretPost(secret);
  // Chosen per request from the discovered metadata: an absent list means
  // client_secret_basic (RFC 8414 section 2), which openid-client would not
  // pick by itself (it defaults to client_secret_post).
  return (as, client, body, headers) => {
    const supported = as.token_endpoint_auth_methods_supported;
    const usePost =
      supported !== undefined && !supported.includes('client_secret_basic') && supported.includes('client_secret_post');
    (usePost ? post : basic)(as, client, body, headers);
  };
}

// S256 by hand because openid-client's calculatePKCECodeChallenge is async
// (WebCrypto) and begin() is synchronous.
function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

function groupsFrom(value: unknown, claim: string): string[] {
  if (value === undefined || value === null) return [];
  // Some providers send a lone group as a plain string.
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((g): g is string => typeof g === 'string')) return value;
  throw new SsoError(
    `the provider's "${claim}" claim is not a list of group names; set the groups claim to one that is, or map groups to names at the provider`,
  );
}

function tokenAdvice(err: unknown, clientId: string): string {
  const oauthError = oauthErrorOf(err);
  switch (oauthError?.error) {
    case 'invalid_client':
      return `the provider rejected the credentials of client ${clientId} (${oauthError.text}); check the client id and secret`;
    case 'invalid_grant':
      return `the provider rejected the authorization code (${oauthError.text}): it expired, was already used, or the PKCE verifier did not match; start the sign-in again`;
  }
  return describe(err);
}

/** The OAuth `error` code and its text, wherever openid-client put them. */
function oauthErrorOf(err: unknown): { error: string; text: string } | undefined {
  let error: string | undefined;
  let description: string | undefined;
  if (err instanceof ResponseBodyError || err instanceof AuthorizationResponseError) {
    ({ error, error_description: description } = err);
  } else if (err instanceof WWWAuthenticateChallengeError) {
    // A 401 from the token endpoint (e.g. a wrong secret with
    // client_secret_basic) carries the error in WWW-Authenticate, not the body.
    const parameters = err.cause[0]?.parameters;
    error = parameters?.error;
    description = parameters?.error_description;
  }
  if (error === undefined) return undefined;
  return { error, text: `error=${error}${description ? ` (${description})` : ''}` };
}

// openid-client's own messages are generic ("invalid response encountered");
// the specific reason is in the cause.
function describe(err: unknown): string {
  const oauthError = oauthErrorOf(err);
  if (oauthError !== undefined) return oauthError.text;
  if (err instanceof ClientError) {
    return err.cause instanceof Error && err.cause.message !== err.message
      ? `${err.message}: ${err.cause.message}`
      : err.message;
  }
  if (err instanceof TypeError && err.message === 'fetch failed') {
    return `could not connect${err.cause instanceof Error ? `: ${err.cause.message}` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}
