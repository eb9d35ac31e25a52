// The workspace's server certificate from the internal issuer: a
// kubernetes.io/tls Secret `db-tls` with tls.crt, tls.key and the CA bundle
// ca.crt. Reissued when it is due for renewal, when its SANs or duration
// change, or when the CA that signs leaves changed; otherwise only the bundle
// is kept current.
import type { Workspace } from '../../api/workspace.js';
import { bundleOf, type Authority, type SecretObject } from '../../tls/authority.js';
import { certInfo, issueServerCertificate, permittedByCa, type KeyPair } from '../../tls/x509.js';
import type { ConditionInput } from '../conditions.js';
import { ownedMeta } from '../owner.js';
import { refusedDnsNames, refusedMessage, workspaceServiceNames } from './names.js';
import { fromBase64, toBase64 } from '../../../kube/secret-data.js';

export const TLS_SECRET = 'db-tls';
const SIGNER = 'holdfast.io/signer-serial';
const DURATION = 'holdfast.io/duration';

/** Go-style duration ("2160h", "90m", "30s", "1h30m") in milliseconds. */
export function parseDuration(text: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };
  let total = 0;
  for (const [, n, unit] of text.matchAll(/([0-9.]+)(ns|us|ms|s|m|h)/g)) total += Number(n) * units[unit!]!;
  return total;
}

/** Names the database will answer to inside the cluster, then the user's. */
export function certificateDnsNames(ws: Workspace): string[] {
  return [...new Set([...workspaceServiceNames(ws), ...(ws.spec.tls.dnsNames ?? [])])];
}

export interface CertificateDecision {
  secret?: SecretObject;
  conditions: ConditionInput[];
  status?: {
    secretName: string;
    serial: string;
    notAfter: string;
    renewalTime: string;
    issuer: string;
    dnsNames: string[];
  };
  requeueAfterMs?: number;
  /** Set when a new leaf was issued (for the Event). */
  issued?: string;
}

function renewalTime(info: { notBefore: Date; notAfter: Date }, renewBeforeMs: number | undefined): Date {
  const lifetime = info.notAfter.getTime() - info.notBefore.getTime();
  const before = renewBeforeMs !== undefined && renewBeforeMs < lifetime ? renewBeforeMs : lifetime / 3;
  return new Date(info.notAfter.getTime() - before);
}

export async function decideInternalCertificate(
  ws: Workspace,
  authority: Authority | undefined,
  existing: SecretObject | undefined,
  now: Date,
  allowedDnsSuffixes: string[],
): Promise<CertificateDecision> {
  if (!authority) {
    return {
      conditions: [
        {
          type: 'CertificateReady',
          status: 'False',
          reason: 'CAPending',
          message: 'waiting for the installation CA to be created',
        },
      ],
      requeueAfterMs: 1000,
    };
  }
  const signer = authority.pairs.get(authority.state.current)!;
  // Names outside the policy, or outside what the signing CA's name
  // constraints permit (until Holdfast's CA is rotated to permit them), are
  // left out: the database keeps serving on the names that are allowed.
  const refused = refusedDnsNames(ws, allowedDnsSuffixes);
  const waiting = certificateDnsNames(ws)
    .filter((n) => !refused.some((r) => r.name === n))
    .filter((n) => !permittedByCa(signer.info, n));
  const dnsNames = certificateDnsNames(ws).filter((n) => !refused.some((r) => r.name === n) && !waiting.includes(n));
  const durationMs = parseDuration(ws.spec.tls.duration);
  const renewBeforeMs = ws.spec.tls.renewBefore ? parseDuration(ws.spec.tls.renewBefore) : undefined;
  const data: Record<string, string> = existing?.data ?? {};
  const have: KeyPair = { certPem: fromBase64(data['tls.crt']), keyPem: fromBase64(data['tls.key']) };

  let why: string | undefined;
  let info = have.certPem ? certInfo(have.certPem) : undefined;
  if (!info || !have.keyPem) why = 'no certificate yet';
  else if (existing?.metadata.annotations?.[SIGNER] !== authority.state.current)
    why = `the CA changed to ${authority.state.current}`;
  else if (info.dnsNames.join(',') !== dnsNames.join(',')) why = 'spec.tls.dnsNames changed';
  else if (existing.metadata.annotations?.[DURATION] !== ws.spec.tls.duration) why = 'spec.tls.duration changed';
  else if (now >= renewalTime(info, renewBeforeMs))
    why = `it is due for renewal (expires ${info.notAfter.toISOString()})`;

  let pair = have;
  if (why) {
    pair = await issueServerCertificate({ ca: signer, dnsNames, now, durationMs });
    info = certInfo(pair.certPem);
  }
  const renewAt = renewalTime(info!, renewBeforeMs);
  const secret: SecretObject = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      ...ownedMeta(ws, TLS_SECRET, { labels: { 'holdfast.io/component': 'tls' } }),
      annotations: { [SIGNER]: authority.state.current, [DURATION]: ws.spec.tls.duration },
    },
    type: 'kubernetes.io/tls',
    data: {
      'tls.crt': toBase64(pair.certPem),
      'tls.key': toBase64(pair.keyPem),
      'ca.crt': toBase64(bundleOf(authority)),
    },
  };
  return {
    secret,
    issued: why
      ? `issued certificate ${info!.serial} for ${dnsNames[1]} because ${why}; valid until ${info!.notAfter.toISOString()}`
      : undefined,
    conditions: [
      refused.length > 0
        ? { type: 'CertificateReady', status: 'False', reason: 'DNSNameNotAllowed', message: refusedMessage(refused) }
        : waiting.length > 0
          ? {
              type: 'CertificateReady',
              status: 'False',
              reason: 'WaitingForCA',
              message: `${waiting.map((n) => `"${n}"`).join(', ')} allowed, but the CA that signs now does not permit ${waiting.length > 1 ? 'them' : 'it'} in its name constraints: a CA Holdfast created is rotated to one that does (after HOLDFAST_CA_OVERLAP); a CA of your own must be replaced by one that permits ${waiting.length > 1 ? 'them' : 'it'}`,
            }
          : {
              type: 'CertificateReady',
              status: 'True',
              reason: 'Issued',
              message: `certificate in Secret ${TLS_SECRET} valid until ${info!.notAfter.toISOString()}, renews at ${renewAt.toISOString()}`,
            },
    ],
    status: {
      secretName: TLS_SECRET,
      serial: info!.serial,
      notAfter: info!.notAfter.toISOString(),
      renewalTime: renewAt.toISOString(),
      issuer: signer.info.subject.split('\n')[0]!.replace(/^CN=/, ''),
      dnsNames,
    },
    requeueAfterMs: waiting.length > 0 ? 10_000 : Math.max(renewAt.getTime() - now.getTime(), 250),
  };
}
