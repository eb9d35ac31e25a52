// "Test connection" for a tenant's single sign-on settings, before or after
// they are saved: every step the console can check without a person signing
// in, each with what to do when it fails.
import type { IdpHostPolicy } from './idp-hosts.js';
import { OidcClient, type OidcSettings } from './oidc.js';
import { probeSaml, type SamlSettings } from './saml.js';
import { SsoError, type SsoCheck } from './sso.js';

export type { SsoCheck } from './sso.js';

export async function checkOidc(
  settings: OidcSettings,
  hosts: IdpHostPolicy,
  redirectUri: string,
): Promise<SsoCheck[]> {
  let client: OidcClient;
  try {
    client = await OidcClient.discover(settings, hosts);
  } catch (err) {
    return [{ step: 'Discovery', ok: false, detail: err instanceof SsoError ? err.message : String(err) }];
  }
  return [
    { step: 'Discovery', ok: true, detail: `read the OpenID configuration of ${settings.issuer}` },
    ...(await client.probe(redirectUri)),
  ];
}

export function checkSaml(settings: SamlSettings, acsUrl: string, hosts: IdpHostPolicy): Promise<SsoCheck[]> {
  const get = hosts.fetch();
  return probeSaml(settings, acsUrl, async (url) =>
    get(url.href, {
      method: 'GET',
      headers: {},
      body: undefined,
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
    }),
  );
}
