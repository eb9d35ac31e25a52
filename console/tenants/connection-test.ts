// "Test connection" for a tenant's single sign-on: the settings as entered,
// saved or not, checked by console/auth/sso-check.ts. Nothing is written.
// Each test sends the identity provider a few requests, so a tenant gets one
// test at a time and a limited number a minute: the console is not a way to
// make a host answer requests in a loop.
import type { z } from 'zod';
import { NotFound, requireTenant, type Viewer } from '../access.js';
import type { IdpHostPolicy } from '../auth/idp-hosts.js';
import { checkOidc, checkSaml, type SsoCheck } from '../auth/sso-check.js';
import { OidcInput, SamlInput, type Tenants } from './service.js';

export const TESTS_PER_MINUTE = 10;

export type TestInput = { oidc: z.input<typeof OidcInput> } | { saml: z.input<typeof SamlInput> };

/** A connection test refused for now: 429, with when to try again. */
export class TooManyTests extends Error {
  override name = 'TooManyTests';
  readonly statusCode = 429;
}

/** One run at a time per key, and at most `perMinute` started in any 60 s. */
export class TestLimit {
  private readonly started = new Map<string, number[]>();
  private readonly running = new Set<string>();

  constructor(
    readonly perMinute = TESTS_PER_MINUTE,
    private readonly now: () => number = Date.now,
  ) {}

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    if (this.running.has(key))
      throw new TooManyTests('A connection test for this tenant is still running: wait for its result.');
    const now = this.now();
    const recent = (this.started.get(key) ?? []).filter((t) => now - t < 60_000);
    if (recent.length >= this.perMinute) {
      const wait = Math.ceil((recent[0]! + 60_000 - now) / 1000);
      throw new TooManyTests(
        `Test connection ran ${recent.length} times for this tenant in the last minute: try again in ${wait} s.`,
      );
    }
    this.started.set(key, [...recent, now]);
    this.running.add(key);
    try {
      return await fn();
    } finally {
      this.running.delete(key);
    }
  }
}

/** A client secret left empty is the stored one, and only for the issuer it was stored for. */
export async function testConnection(
  tenants: Tenants,
  viewer: Viewer,
  id: string,
  input: TestInput,
  where: { publicUrl: string; hosts: IdpHostPolicy; limit: TestLimit },
): Promise<SsoCheck[]> {
  requireTenant(viewer, id, true);
  return where.limit.run(id, () => check(tenants, id, input, where));
}

async function check(
  tenants: Tenants,
  id: string,
  input: TestInput,
  where: { publicUrl: string; hosts: IdpHostPolicy },
): Promise<SsoCheck[]> {
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
