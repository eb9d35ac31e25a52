// What a tenant's identity provider tells the console about a person after a
// successful single sign-on, whatever the protocol.
export interface SsoIdentity {
  /** Who vouches for the subject (OIDC issuer, SAML IdP entity ID): a subject is unique only at its issuer. */
  issuer: string;
  /** Stable id at the provider (OIDC `sub`, SAML NameID). */
  subject: string;
  email: string;
  name?: string;
  /** Group names from the configured claim or attribute; empty when none. */
  groups: string[];
}

/** A sign-in that the provider refused or that failed a check; safe to show. */
export class SsoError extends Error {
  override name = 'SsoError';
}

/** One step of a configuration check ("test connection"), said so an admin can act on it. */
export interface SsoCheck {
  step: string;
  ok: boolean;
  detail: string;
}
