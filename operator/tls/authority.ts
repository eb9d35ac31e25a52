// The installation CA and its rotation. State lives in one Secret in the
// operator's namespace (data `<serial>.crt` / `<serial>.key`, bundle `ca.crt`,
// annotation holdfast.io/ca-state). Rotation never breaks a handshake:
//
//   1. at 2/3 of the current CA's lifetime (or when forced with the annotation
//      holdfast.io/rotate-ca on the Secret) a next CA is created; workspace
//      ca.crt bundles now carry both;
//   2. once every workspace bundle carries the next CA, and after an overlap
//      for clients to pick the bundles up, the next CA is promoted: leaves are
//      reissued from it; the old CA stays in the bundles as "retired";
//   3. a retired CA leaves the bundles when it expires.
//
// A customer's own CA (a kubernetes.io/tls Secret not managed by Holdfast) is
// used as is and never rotated.
import type { KubeObject } from '../../kube/rest.js';
import { certInfo, type CertInfo, type KeyPair } from './x509.js';
import { fromBase64, toBase64 } from '../../kube/secret-data.js';

export const CA_STATE_ANNOTATION = 'holdfast.io/ca-state';
export const ROTATE_ANNOTATION = 'holdfast.io/rotate-ca';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';

export interface CaState {
  current: string;
  next?: string;
  /** When every workspace bundle was first seen carrying `next`. */
  nextBundledAt?: string;
  retired: string[];
}

export interface Authority {
  external: boolean;
  state: CaState;
  pairs: Map<string, KeyPair & { info: CertInfo }>;
}

export interface SecretObject extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

export function readAuthority(secret: SecretObject | undefined): Authority | undefined {
  if (!secret) return undefined;
  const data = secret.data ?? {};
  if (secret.metadata.labels?.[MANAGED_BY_LABEL] !== 'holdfast') {
    const certPem = fromBase64(data['tls.crt']);
    const keyPem = fromBase64(data['tls.key']);
    if (!certPem || !keyPem) return undefined;
    const info = certInfo(certPem);
    return {
      external: true,
      state: { current: info.serial, retired: [] },
      pairs: new Map([[info.serial, { certPem, keyPem, info }]]),
    };
  }
  const raw = secret.metadata.annotations?.[CA_STATE_ANNOTATION];
  if (!raw) return undefined;
  const state = JSON.parse(raw) as CaState;
  const pairs = new Map<string, KeyPair & { info: CertInfo }>();
  for (const serial of [state.current, ...(state.next ? [state.next] : []), ...state.retired]) {
    const certPem = fromBase64(data[`${serial}.crt`]);
    const keyPem = fromBase64(data[`${serial}.key`]);
    if (certPem && keyPem) pairs.set(serial, { certPem, keyPem, info: certInfo(certPem) });
  }
  return { external: false, state, pairs };
}

/** The trust bundle every workspace gets: current, next and retired CAs. */
export function bundleOf(a: Authority): string {
  const order = [a.state.current, ...(a.state.next ? [a.state.next] : []), ...a.state.retired];
  return order.map((s) => a.pairs.get(s)?.certPem ?? '').join('');
}

export function desiredCaSecret(
  name: string,
  namespace: string,
  state: CaState,
  pairs: Map<string, KeyPair>,
): SecretObject {
  const data: Record<string, string> = {};
  for (const [serial, p] of pairs) {
    data[`${serial}.crt`] = toBase64(p.certPem);
    data[`${serial}.key`] = toBase64(p.keyPem);
  }
  const a: Authority = {
    external: false,
    state,
    pairs: new Map([...pairs].map(([s, p]) => [s, { ...p, info: certInfo(p.certPem) }])),
  };
  data['ca.crt'] = toBase64(bundleOf(a));
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace,
      labels: { [MANAGED_BY_LABEL]: 'holdfast', 'holdfast.io/component': 'ca' },
      annotations: { [CA_STATE_ANNOTATION]: JSON.stringify(state) },
    },
    type: 'Opaque',
    data,
  };
}

export type CaStep =
  | { action: 'create' }
  | { action: 'createNext'; reason: string }
  | { action: 'markBundled' }
  | { action: 'promote' }
  | { action: 'dropRetired'; serials: string[] }
  | { action: 'none'; wakeAt?: Date };

export interface CaPolicy {
  /** Lifetime of a CA Holdfast creates. */
  durationMs: number;
  /** Time between every bundle carrying the next CA and leaves moving to it. */
  overlapMs: number;
  /** DNS name constraints the CAs Holdfast creates carry (see workspace/certificate/names.ts). */
  permittedDns: string[];
}

/** The one next thing to do about the CA; no I/O. */
export function planCa(
  a: Authority | undefined,
  ctx: { now: Date; forced: boolean; allBundled: boolean; policy: CaPolicy },
): CaStep {
  if (!a) return { action: 'create' };
  const now = ctx.now.getTime();
  const expired = a.state.retired.filter((s) => (a.pairs.get(s)?.info.notAfter.getTime() ?? 0) <= now);
  if (expired.length > 0) return { action: 'dropRetired', serials: expired };
  if (a.external) return { action: 'none' };

  const current = a.pairs.get(a.state.current)!.info;
  const lifetime = current.notAfter.getTime() - current.notBefore.getTime();
  const rotateAt = current.notBefore.getTime() + (lifetime * 2) / 3;
  if (!a.state.next) {
    if (ctx.forced)
      return { action: 'createNext', reason: 'rotation requested with the holdfast.io/rotate-ca annotation' };
    if (!sameConstraints(current, ctx.policy.permittedDns))
      return {
        action: 'createNext',
        reason: `the current CA's DNS name constraints (${describeConstraints(current)}) are not the ones the DNS name policy needs (${ctx.policy.permittedDns.join(', ')})`,
      };
    if (now >= rotateAt)
      return {
        action: 'createNext',
        reason: `the current CA has used 2/3 of its lifetime (expires ${current.notAfter.toISOString()})`,
      };
    return { action: 'none', wakeAt: earliest([new Date(rotateAt), ...retiredExpiry(a)]) };
  }
  if (!a.state.nextBundledAt) {
    return ctx.allBundled ? { action: 'markBundled' } : { action: 'none', wakeAt: earliest(retiredExpiry(a)) };
  }
  // Never let the current CA expire while waiting out the overlap.
  const promoteAt = Math.min(
    new Date(a.state.nextBundledAt).getTime() + ctx.policy.overlapMs,
    current.notAfter.getTime() - 1000,
  );
  if (now >= promoteAt) return { action: 'promote' };
  return { action: 'none', wakeAt: earliest([new Date(promoteAt), ...retiredExpiry(a)]) };
}

function sameConstraints(ca: CertInfo, permittedDns: string[]): boolean {
  const have = ca.dnsConstraints;
  if (!have || have.excluded.length > 0) return false;
  return [...have.permitted].sort().join(',') === [...permittedDns].sort().join(',');
}

function describeConstraints(ca: CertInfo): string {
  return ca.dnsConstraints ? `permitted: ${ca.dnsConstraints.permitted.join(', ')}` : 'none';
}

function retiredExpiry(a: Authority): Date[] {
  return a.state.retired.map((s) => a.pairs.get(s)?.info.notAfter).filter((d): d is Date => d !== undefined);
}

function earliest(dates: Date[]): Date | undefined {
  return dates.length ? new Date(Math.min(...dates.map((d) => d.getTime()))) : undefined;
}
