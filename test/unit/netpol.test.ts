import { describe, expect, it } from 'vitest';
import { connection, selects, type Cluster, type Endpoint, type NetworkPolicy } from '../harness/netpol.js';

const ns = (name: string, labels: Record<string, string> = {}) => ({
  [name]: { 'kubernetes.io/metadata.name': name, ...labels },
});
const cluster = (...policies: NetworkPolicy[]): Cluster => ({
  policies,
  namespaces: { ...ns('a'), ...ns('b', { team: 'x' }), ...ns('c') },
});
const pol = (namespace: string, spec: NetworkPolicy['spec'], name = 'p'): NetworkPolicy => ({
  metadata: { name, namespace },
  spec,
});
const pod = (name: string, namespace: string, labels: Record<string, string> = {}, more: Partial<Endpoint> = {}) => ({
  name,
  namespace,
  labels,
  ...more,
});
const denyAll = (namespace: string) => pol(namespace, { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }, 'deny');

describe('NetworkPolicy evaluator', () => {
  const web = pod('web', 'a', { app: 'web' });
  const db = pod('db', 'a', { app: 'db' }, { namedPorts: { postgres: 5432 } });

  it('allows everything when no policy selects either pod', () => {
    expect(connection(cluster(), web, db, 5432).allowed).toBe(true);
  });

  it('denies both directions under a default deny, and needs egress and ingress allows', () => {
    const ingress = pol(
      'a',
      {
        podSelector: { matchLabels: { app: 'db' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }] }],
      },
      'in',
    );
    const egress = pol(
      'a',
      { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { app: 'db' } } }] }] },
      'out',
    );
    expect(connection(cluster(denyAll('a')), web, db, 5432)).toMatchObject({
      allowed: false,
      reason: 'egress of web denied',
    });
    expect(connection(cluster(denyAll('a'), egress), web, db, 5432)).toMatchObject({ reason: 'ingress of db denied' });
    expect(connection(cluster(denyAll('a'), egress, ingress), web, db, 5432).allowed).toBe(true);
    // A podSelector peer alone means the policy's own namespace.
    expect(connection(cluster(denyAll('a'), egress, ingress), pod('web', 'b', { app: 'web' }), db, 5432).allowed).toBe(
      false,
    );
  });

  it('matches ports by number, range, name and protocol', () => {
    const c = (ports: NonNullable<NetworkPolicy['spec']['ingress']>[number]['ports']) =>
      cluster(pol('a', { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ ports }] }));
    expect(connection(c([{ port: 5432 }]), web, db, 5432).allowed).toBe(true);
    expect(connection(c([{ port: 5432 }]), web, db, 8000).allowed).toBe(false);
    expect(connection(c([{ port: 8000, endPort: 8010 }]), web, db, 8005).allowed).toBe(true);
    expect(connection(c([{ port: 'postgres' }]), web, db, 5432).allowed).toBe(true);
    expect(connection(c([{ port: 'postgres' }]), web, web, 5432).allowed).toBe(false);
    expect(connection(c([{ protocol: 'UDP', port: 5432 }]), web, db, 5432).allowed).toBe(false);
    expect(connection(c([{ protocol: 'UDP', port: 5432 }]), web, db, 5432, 'UDP').allowed).toBe(true);
  });

  it('matches namespaces by their labels, with or without a pod selector', () => {
    const fromB = (peer: object) =>
      cluster(pol('a', { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [peer] }] }));
    const other = pod('x', 'b', { app: 'web' });
    expect(connection(fromB({ namespaceSelector: { matchLabels: { team: 'x' } } }), other, db, 1).allowed).toBe(true);
    expect(connection(fromB({ namespaceSelector: { matchLabels: { team: 'x' } } }), pod('y', 'c'), db, 1).allowed).toBe(
      false,
    );
    const both = { namespaceSelector: { matchLabels: { team: 'x' } }, podSelector: { matchLabels: { app: 'db' } } };
    expect(connection(fromB(both), other, db, 1).allowed).toBe(false);
  });

  it('matches addresses by ipBlock and its exceptions, and selectors never match them', () => {
    const out = pol('a', {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }] }],
    });
    const addr = (ip: string): Endpoint => ({ name: ip, ip });
    expect(connection(cluster(out), web, addr('10.2.3.4'), 443).allowed).toBe(true);
    expect(connection(cluster(out), web, addr('10.1.3.4'), 443).allowed).toBe(false);
    expect(connection(cluster(out), web, addr('192.168.0.1'), 443).allowed).toBe(false);
    expect(connection(cluster(out), web, addr('fd00::1'), 443).allowed).toBe(false);
    const v6 = pol('a', {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [{ to: [{ ipBlock: { cidr: 'fd00::/8' } }] }],
    });
    expect(connection(cluster(v6), web, addr('fd00::1'), 443).allowed).toBe(true);
    const sel = pol('a', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} }] }] });
    expect(connection(cluster(sel), web, addr('10.2.3.4'), 443).allowed).toBe(false);
    expect(connection(cluster(sel), web, pod('z', 'c'), 443).allowed).toBe(true);
  });

  it('defaults policyTypes from the rules present', () => {
    const onlyIngress = pol('a', { podSelector: {}, ingress: [] });
    expect(connection(cluster(onlyIngress), web, pod('z', 'c'), 1).allowed).toBe(true);
    expect(connection(cluster(onlyIngress), pod('z', 'c'), web, 1).allowed).toBe(false);
    const withEgress = pol('a', { podSelector: {}, egress: [] });
    expect(connection(cluster(withEgress), web, pod('z', 'c'), 1).allowed).toBe(false);
  });

  it('evaluates label selector expressions', () => {
    const labels = { role: 'backup', tier: 'x' };
    expect(selects({ matchExpressions: [{ key: 'role', operator: 'In', values: ['backup', 'verify'] }] }, labels)).toBe(
      true,
    );
    expect(selects({ matchExpressions: [{ key: 'role', operator: 'NotIn', values: ['backup'] }] }, labels)).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'other', operator: 'NotIn', values: ['backup'] }] }, labels)).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, labels)).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, labels)).toBe(false);
    expect(
      selects(
        { matchLabels: { role: 'backup' }, matchExpressions: [{ key: 'x', operator: 'In', values: [] }] },
        labels,
      ),
    ).toBe(false);
  });
});
