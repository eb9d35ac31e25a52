import { describe, expect, it } from 'vitest';
import { WorkspaceSpec, type Workspace } from '../../api/workspace.js';
import { createCa, certInfo, permittedByCa } from '../../tls/x509.js';
import {
  caPermittedSubtrees,
  parseAllowedSuffixes,
  refusedDnsNames,
  refusedMessage,
  withinSubtree,
  workspaceServiceNames,
} from './names.js';

function workspace(spec: Record<string, unknown>, name = 'pay'): Workspace {
  return {
    apiVersion: 'holdfast.io/v1alpha1',
    kind: 'Workspace',
    metadata: { name, uid: 'uid-1', generation: 1 },
    spec: WorkspaceSpec.parse(spec),
  };
}
const refusedOf = (dnsNames: string[], allowed: string[], spec: Record<string, unknown> = {}) =>
  refusedDnsNames(workspace({ ...spec, tls: { dnsNames } }), allowed).map((r) => r.field);

describe('refusedDnsNames', () => {
  it("allows the workspace's own service names and nothing else by default", () => {
    expect(refusedOf(['db', 'db.ws-pay.svc', 'db.ws-pay.svc.cluster.local'], [])).toEqual([]);
    expect(
      refusedOf(['db.ws-other.svc', 'db-rw.ws-pay.svc', 'login.acme.example.com', 'kubernetes.default.svc'], []),
    ).toEqual(['spec.tls.dnsNames[0]', 'spec.tls.dnsNames[1]', 'spec.tls.dnsNames[2]', 'spec.tls.dnsNames[3]']);
  });
  it("allows CloudNativePG's service names for that provider", () => {
    expect(
      refusedOf(['db-rw.ws-pay.svc', 'db-ro', 'db-r.ws-pay.svc'], [], { database: { provider: 'cloudnative-pg' } }),
    ).toEqual([]);
  });
  it('allows names under the domains the platform admin allows, never wildcards', () => {
    const allowed = ['db.acme.example.com'];
    expect(refusedOf(['db.acme.example.com', 'pay.db.acme.example.com'], allowed)).toEqual([]);
    expect(refusedOf(['acme.example.com', 'evildb.acme.example.com', '*.db.acme.example.com'], allowed)).toEqual([
      'spec.tls.dnsNames[0]',
      'spec.tls.dnsNames[1]',
      'spec.tls.dnsNames[2]',
    ]);
  });
  it('scopes a {workspace} domain to the workspace it names', () => {
    const allowed = ['{workspace}.db.acme.example.com'];
    expect(refusedOf(['pay.db.acme.example.com', 'x.pay.db.acme.example.com'], allowed)).toEqual([]);
    expect(refusedOf(['hr.db.acme.example.com'], allowed)).toEqual(['spec.tls.dnsNames[0]']);
  });
  it('says which field, which name, and what to do', () => {
    const message = refusedMessage(refusedDnsNames(workspace({ tls: { dnsNames: ['*.acme.example.com'] } }), []));
    expect(message).toContain('spec.tls.dnsNames[0] "*.acme.example.com"');
    expect(message).toContain('wildcards');
    expect(message).toContain('HOLDFAST_ALLOWED_DNS_SUFFIXES');
    expect(message).toContain('Remove it');
  });
});

describe('parseAllowedSuffixes', () => {
  it('reads a comma-separated list and refuses what is not a domain', () => {
    expect(parseAllowedSuffixes(undefined)).toEqual([]);
    expect(parseAllowedSuffixes(' DB.Acme.example.com, .corp.example.org,{workspace}.db.example.com ')).toEqual([
      'db.acme.example.com',
      'corp.example.org',
      '{workspace}.db.example.com',
    ]);
    expect(() => parseAllowedSuffixes('*.example.com')).toThrow(/HOLDFAST_ALLOWED_DNS_SUFFIXES.*"\*\.example\.com"/);
    expect(() => parseAllowedSuffixes('com')).toThrow(/HOLDFAST_ALLOWED_DNS_SUFFIXES/);
  });
});

describe('CA name constraints', () => {
  it('cover every name a workspace certificate may carry, and only those', async () => {
    const subtrees = caPermittedSubtrees(['{workspace}.db.acme.example.com']);
    const ca = certInfo(
      (await createCa({ commonName: 't', now: new Date(), durationMs: 60_000, permittedDns: subtrees })).certPem,
    );
    expect(ca.dnsConstraints).toEqual({ permitted: subtrees, excluded: [] });
    const cnpg = workspace({ database: { provider: 'cloudnative-pg' } });
    for (const name of [...workspaceServiceNames(cnpg), 'pay.db.acme.example.com']) {
      expect(permittedByCa(ca, name)).toBe(true);
    }
    for (const name of ['login.acme.example.com', 'db.ws-pay', 'example.com']) {
      expect(permittedByCa(ca, name)).toBe(false);
    }
    expect(withinSubtree('xdb', 'db')).toBe(false);
  });
});
