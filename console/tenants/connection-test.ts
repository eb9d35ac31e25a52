// "Test connection" for a tenant's single sign-on: the settings as entered,
// saved or not, checked by console/auth/sso-check.ts. Nothing is written.
import type { z } from 'zod';
import { NotFound, requireTenant, type Viewer } from '../access.js';
import type { IdpHostPolicy } from '../auth/idp-hosts.js';
import { checkOidc, checkSaml, type SsoCheck } from '../auth/sso-check.js';
import { OidcInput, SamlInput, type Tenants } from './service.js';

/** A client secret left empty is the stored one, and only for the issuer it was stored for. */
export async function testConnection(
  tenants: Tenants,
  viewer: Viewer,
  id: string,
  input: { oidc: z.input<typeof OidcInput> } | { saml: z.input<typeof SamlInput> },
  where: { publicUrl: string; hosts: IdpHostPolicy },
): Promise<SsoCheck[]> {
  requireTenant(viewer, id, true);
  const stored = await tenants.forSignIn(id);
  if (!stored) throw new NotFound(`no tenant "${id}"`);
  if ('oidc' in input) {
    const oidc = OidcInput.parse(input.oidc);
    const secret =
      oidc.clientSecret ?? (stored.oidc?.issuer === oidc.issuer ? (stored.oidcClientSecret ?? undefined) : undefined);
    return checkOidc(
      { ...oidc, ...(secret ? { clientSecret: secret } : {}) },
      where.hosts,
      `${where.publicUrl}/auth/oidc/callback`,
    );
  }
  const saml = SamlInput.parse(input.saml);
  return checkSaml(
    { ...saml, spEntityId: `${where.publicUrl}/auth/saml/${id}` },
    `${where.publicUrl}/auth/saml/${id}/acs`,
    where.hosts,
  );
}
