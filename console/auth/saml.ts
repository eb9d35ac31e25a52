// SAML 2.0 sign-in for one tenant, service-provider side, over
// @node-saml/node-saml 5. Make one SamlClient per tenant (and again when its
// settings change) and keep it: node-saml remembers the AuthnRequest IDs it
// issued inside its `SAML` object, so a response is only accepted by the
// object that sent the request it answers.
import { X509Certificate } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { SAML, SamlStatusError, ValidateInResponseTo, type Profile } from '@node-saml/node-saml';
import { SsoError, type SsoCheck, type SsoIdentity } from './sso.js';

export interface SamlSettings {
  /** The IdP's single sign-on URL (HTTP-Redirect binding). */
  entryPoint: string;
  /** The IdP's signing certificate, PEM (bare base64 as found in IdP metadata is accepted too). */
  idpCert: string;
  /** When set, assertions issued by any other entity ID are refused. */
  idpIssuer?: string;
  /** This tenant's SP entity ID; also the audience the assertions must name. */
  spEntityId: string;
  /** Attribute holding the email; when unset, an email-shaped NameID or a well-known email attribute is used. */
  emailAttribute?: string;
  /** Attribute holding group names, single or multi-valued; default `groups`. */
  groupsAttribute?: string;
}

const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const NAMEID_UNSPECIFIED = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';
// Where IdPs commonly put an email or a display name when the tenant has not
// named an attribute: LDAP/eduPerson names, their OIDs, and Entra ID's claims.
const EMAIL_ATTRIBUTES = [
  'email',
  'mail',
  'urn:oid:0.9.2342.19200300.100.1.3',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
];
const NAME_ATTRIBUTES = [
  'displayName',
  'urn:oid:2.16.840.1.113730.3.1.241',
  'http://schemas.microsoft.com/identity/claims/displayname',
  'name',
];

// Long enough for a person to get through the IdP's login and MFA, short
// enough that abandoned requests do not pile up in memory.
const REQUEST_LIFETIME_MS = 15 * 60_000;
// Tolerates a little drift between the IdP's clock and ours without
// stretching how long an intercepted assertion stays usable.
const CLOCK_SKEW_MS = 5_000;

const NOT_SIGNED =
  "the SAML response is not signed by the identity provider's certificate configured for this tenant; " +
  "make the identity provider sign both the response and the assertion, and paste its current signing certificate into the tenant's SAML settings";

export class SamlClient {
  readonly #saml: SAML;
  readonly #settings: SamlSettings;
  readonly #acsUrl: string;
  // Request IDs whose response has been accepted, until they would expire
  // anyway. node-saml forgets a request ID only when the assertion's
  // SubjectConfirmationData repeats InResponseTo (some IdPs leave it out),
  // and only after several awaits, so two copies of one response posted at
  // once could both pass. Claiming the ID synchronously here makes every
  // response usable once.
  readonly #answered = new Map<string, number>();

  constructor(settings: SamlSettings, acsUrl: string) {
    if (!isHttpUrl(acsUrl)) {
      throw new Error(
        `the SAML ACS URL "${acsUrl}" is not an absolute http(s) URL; configure the console's public URL`,
      );
    }
    if (!isHttpUrl(settings.entryPoint)) {
      throw new SsoError(
        `the SAML sign-on URL "${settings.entryPoint}" is not an http(s) URL; copy the identity provider's single sign-on (HTTP-Redirect) URL into the tenant's SAML settings`,
      );
    }
    if (settings.spEntityId.trim() === '') {
      throw new SsoError(
        "the tenant's SAML settings have no SP entity ID; set one and register it at the identity provider",
      );
    }
    this.#settings = settings;
    this.#acsUrl = acsUrl;
    this.#saml = new SAML({
      entryPoint: settings.entryPoint,
      idpCert: certificatePem(settings.idpCert),
      ...(settings.idpIssuer ? { idpIssuer: settings.idpIssuer } : {}),
      issuer: settings.spEntityId,
      audience: settings.spEntityId,
      callbackUrl: acsUrl,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: true,
      validateInResponseTo: ValidateInResponseTo.always,
      requestIdExpirationPeriodMs: REQUEST_LIFETIME_MS,
      acceptedClockSkewMs: CLOCK_SKEW_MS,
      // Asking for no particular NameID format lets the IdP admin choose
      // (node-saml would ask for emailAddress, which some IdPs refuse).
      identifierFormat: null,
      // How the person proved who they are is the IdP's policy; asking for
      // exactly "password" (node-saml's default) fails passwordless and MFA
      // sign-ins at Entra ID and others.
      disableRequestedAuthnContext: true,
    });
  }

  /**
   * The IdP URL to send the browser to, and the ID of the AuthnRequest in it:
   * keep that with the sign-in and check that `finish` returns it as
   * `inResponseTo`. `relayState` comes back unchanged but unsigned from `finish`.
   */
  async begin(relayState: string): Promise<{ url: string; authnRequestId: string }> {
    const url = await this.#saml.getAuthorizeUrlAsync(relayState, undefined, {});
    return { url, authnRequestId: authnRequestIdOf(url) };
  }

  /**
   * Checks the form the IdP had the browser POST to the ACS URL and returns
   * who signed in. `relayState` is whatever the browser sent: nothing signs
   * it, so treat it as untrusted input (check a return path before using it).
   */
  async finish(
    body: Record<string, string>,
  ): Promise<{ identity: SsoIdentity; relayState: string | undefined; inResponseTo: string }> {
    const samlResponse = body.SAMLResponse;
    if (typeof samlResponse !== 'string' || samlResponse === '') {
      throw new SsoError(
        `the sign-in form has no SAMLResponse; the identity provider must POST its response (HTTP-POST binding) to ${this.#acsUrl}`,
      );
    }
    let profile: Profile | null;
    try {
      ({ profile } = await this.#saml.validatePostResponseAsync({ SAMLResponse: samlResponse }));
    } catch (err) {
      throw refusal(err, this.#settings.spEntityId);
    }
    if (profile === null) {
      throw new SsoError(
        'the identity provider sent a logout or a "no passive sign-in" answer instead of a sign-in; sign in again',
      );
    }
    const inResponseTo = this.#claim(profile);
    const relayState = body.RelayState;
    return { identity: this.#identity(profile), relayState: relayState === '' ? undefined : relayState, inResponseTo };
  }

  /** SP metadata XML to give the IdP admin. */
  metadata(): string {
    return this.#saml.generateServiceProviderMetadata(null, null);
  }

  #claim(profile: Profile): string {
    const now = Date.now();
    for (const [id, expires] of this.#answered) if (expires <= now) this.#answered.delete(id);
    const requestId = profile.inResponseTo;
    if (typeof requestId !== 'string') {
      // validateInResponseTo "always" refuses a response without one.
      throw new SsoError('the SAML response names no request it answers; start the sign-in again from the console');
    }
    if (this.#answered.has(requestId)) {
      throw new SsoError(
        "this SAML response was already used to sign in; start the sign-in again from the console's login page",
      );
    }
    this.#answered.set(requestId, now + REQUEST_LIFETIME_MS);
    return requestId;
  }

  #identity(profile: Profile): SsoIdentity {
    const { idpIssuer, emailAttribute } = this.#settings;
    if (idpIssuer && profile.issuer !== idpIssuer) {
      throw new SsoError(
        `the SAML assertion was issued by "${profile.issuer}", not by "${idpIssuer}"; correct the IdP entity ID in the tenant's SAML settings`,
      );
    }
    const subject = profile.nameID;
    if (typeof subject !== 'string' || subject === '') {
      throw new SsoError(
        'the SAML assertion has no NameID; configure the identity provider to send a NameID for the user',
      );
    }
    // node-saml copies attributes onto the profile too, but beside its own
    // fields (issuer, nameID, ...); reading them from `attributes` keeps an
    // attribute of the same name from being shadowed.
    const attributes = isRecord(profile.attributes) ? profile.attributes : {};

    let email: string | undefined;
    if (emailAttribute) {
      email = values(attributes[emailAttribute])[0];
      if (email === undefined) {
        throw new SsoError(
          `the SAML assertion has no "${emailAttribute}" attribute, which the tenant's SAML settings name as the email; release it at the identity provider or change the setting`,
        );
      }
    } else if (isEmailNameId(subject, profile.nameIDFormat)) {
      email = subject;
    } else {
      email = EMAIL_ATTRIBUTES.flatMap((name) => values(attributes[name]))[0];
    }
    if (email === undefined || !looksLikeEmail(email)) {
      throw new SsoError(
        "the SAML assertion carries no email address; make the identity provider send the email as NameID (emailAddress format) or as an attribute, and name that attribute in the tenant's SAML settings",
      );
    }
    const name = NAME_ATTRIBUTES.flatMap((n) => values(attributes[n]))[0];
    const groups = [...new Set(values(attributes[this.#settings.groupsAttribute || 'groups']))];
    const issuer = profile.issuer;
    if (typeof issuer !== 'string' || issuer === '') {
      throw new SsoError('the SAML assertion names no issuer; configure the identity provider to send its entity ID');
    }
    return { issuer, subject, email, ...(name !== undefined ? { name } : {}), groups };
  }
}

// node-saml throws plain Errors without codes, so its messages are matched
// here to tell the person (or the admin) what to do.
const refusals: [RegExp, (detail: string, spEntityId: string) => string][] = [
  [/^Invalid document signature$|^Invalid signature$|^Invalid signature from encrypted assertion$/, () => NOT_SIGNED],
  [
    /^InResponseTo is missing/,
    () =>
      "the identity provider sent a sign-in the console did not ask for (sign-in started at the identity provider is not supported); start the sign-in from the console's login page",
  ],
  [
    /InResponseTo is not valid|InResponseTo does not match/,
    () =>
      "this SAML response does not answer a sign-in this console started, or it was already used or has expired; start the sign-in again from the console's login page",
  ],
  [
    /audience|AudienceRestriction/i,
    (detail, spEntityId) =>
      `the SAML assertion is meant for another service provider (${detail}); set the audience / SP entity ID at the identity provider to "${spEntityId}"`,
  ],
  [
    /not yet valid|expired|No valid subject confirmation/,
    (detail) =>
      `the SAML assertion is outside its validity period (${detail}); check that the clocks of the identity provider and the console are right, then sign in again`,
  ],
  [
    /multiple assertions|Too many signatures|too many transforms/,
    (detail) =>
      `the SAML response has a shape this console refuses (${detail}); send one signed assertion in a signed response`,
  ],
];

function refusal(err: unknown, spEntityId: string): SsoError {
  if (err instanceof SamlStatusError) {
    return new SsoError(
      `the identity provider did not sign the user in (${err.message}); check the user's access at the identity provider`,
      { cause: err },
    );
  }
  const detail = err instanceof Error ? err.message : String(err);
  const match = refusals.find(([pattern]) => pattern.test(detail));
  const message = match
    ? match[1](detail, spEntityId)
    : `the SAML response was refused (${detail}); compare the tenant's SAML settings with the identity provider's`;
  return new SsoError(message, { cause: err });
}

/** The ID of the AuthnRequest in an HTTP-Redirect URL: SAMLRequest is deflated, then base64. */
function authnRequestIdOf(url: string): string {
  const request = new URL(url).searchParams.get('SAMLRequest');
  const xml = request === null ? '' : inflateRawSync(Buffer.from(request, 'base64')).toString('utf8');
  const id = /<(?:\w+:)?AuthnRequest\b[^>]*\sID="([^"]+)"/.exec(xml)?.[1];
  if (id === undefined) throw new Error('the SAML AuthnRequest the console made carries no ID');
  return id;
}

/**
 * What a configuration check can learn without a person signing in: whether
 * the signing certificate is readable and current, and how the IdP answers
 * an authentication request from this service provider (an IdP that does not
 * know the SP's entity ID or ACS URL usually refuses it at once).
 */
export async function probeSaml(
  settings: SamlSettings,
  acsUrl: string,
  fetchChecked: (url: URL) => Promise<Response>,
  now = new Date(),
): Promise<SsoCheck[]> {
  const checks: SsoCheck[] = [];
  try {
    const cert = new X509Certificate(certificatePem(settings.idpCert));
    const until = new Date(cert.validTo);
    const days = Math.floor((until.getTime() - now.getTime()) / 86_400_000);
    const subject = cert.subject.replace(/\n/g, ', ');
    checks.push(
      days < 0
        ? {
            step: 'Certificate',
            ok: false,
            detail: `${subject} expired on ${until.toISOString().slice(0, 10)}; paste the IdP's current signing certificate`,
          }
        : {
            step: 'Certificate',
            ok: true,
            detail: `${subject}, valid until ${until.toISOString().slice(0, 10)}${days < 30 ? ` (in ${days} days: ask for the next one now)` : ''}`,
          },
    );
  } catch {
    checks.push({
      step: 'Certificate',
      ok: false,
      detail: 'not a readable PEM certificate; paste the whole certificate from the IdP metadata',
    });
  }
  let url: string;
  try {
    ({ url } = await new SamlClient(settings, acsUrl).begin('check'));
  } catch (err) {
    checks.push({ step: 'Sign-on URL', ok: false, detail: (err as Error).message });
    return checks;
  }
  try {
    const res = await fetchChecked(new URL(url));
    const status = res.status;
    // The IdP's own words when it refuses; a login page is not read.
    let text = '';
    if (status >= 400)
      text = (await res.text())
        .replace(/<[^>]*>/g, ' ')
        .replace(/\s+/g, ' ')
        .trim()
        .slice(0, 200);
    else await res.body?.cancel();
    checks.push(
      status < 400
        ? {
            step: 'Sign-on URL',
            ok: true,
            detail: `${settings.entryPoint} took an authentication request from ${settings.spEntityId} (HTTP ${status})`,
          }
        : {
            step: 'Sign-on URL',
            ok: false,
            detail: `${settings.entryPoint} refused an authentication request from ${settings.spEntityId} (HTTP ${status}${text ? `: ${text}` : ''}); register the entity ID and ACS URL ${acsUrl} at the IdP`,
          },
    );
  } catch (err) {
    const reason =
      err instanceof SsoError
        ? err.message
        : `${(err as Error).message}${(err as Error).cause ? ` (${String((err as Error).cause)})` : ''}`;
    checks.push({ step: 'Sign-on URL', ok: false, detail: `${settings.entryPoint} could not be reached: ${reason}` });
  }
  return checks;
}

function certificatePem(cert: string): string {
  const trimmed = cert.trim();
  const pem = trimmed.startsWith('-----BEGIN')
    ? trimmed
    : `-----BEGIN CERTIFICATE-----\n${trimmed.replace(/\s+/g, '').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----`;
  try {
    new X509Certificate(pem);
  } catch {
    throw new SsoError(
      "the identity provider certificate in the tenant's SAML settings is not a valid X.509 certificate; paste the IdP's signing certificate (PEM, -----BEGIN CERTIFICATE-----)",
    );
  }
  return pem;
}

function isHttpUrl(value: string): boolean {
  return /^https?:\/\//.test(value) && URL.canParse(value);
}

function isEmailNameId(nameId: string, format: string | undefined): boolean {
  if (format === NAMEID_EMAIL) return true;
  return (format === undefined || format === NAMEID_UNSPECIFIED) && looksLikeEmail(nameId);
}

function looksLikeEmail(value: string): boolean {
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value);
}

/** An attribute's string values, whether the IdP sent it single or multi-valued. */
function values(attribute: unknown): string[] {
  const list: unknown[] = Array.isArray(attribute) ? attribute : [attribute];
  return list
    .filter((v): v is string => typeof v === 'string')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
