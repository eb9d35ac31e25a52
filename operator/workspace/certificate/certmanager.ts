// The workspace's certificate from cert-manager: a cert-manager.io/v1
// Certificate that writes the same Secret `db-tls`; its Ready condition
// becomes CertificateReady.
import { type Workspace } from '../../api/workspace.js';
import type { KubeObject } from '../../../kube/rest.js';
import type { ConditionInput } from '../conditions.js';
import { ownedMeta } from '../owner.js';
import { TLS_SECRET, certificateDnsNames } from './internal.js';

export function desiredCertManagerCertificate(ws: Workspace): KubeObject {
  const ref = ws.spec.tls.issuerRef!;
  return {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: ownedMeta(ws, TLS_SECRET, { labels: { 'holdfast.io/component': 'tls' } }),
    spec: {
      secretName: TLS_SECRET,
      secretTemplate: { labels: { 'holdfast.io/workspace': ws.metadata.name, 'holdfast.io/component': 'tls' } },
      commonName: certificateDnsNames(ws)[1],
      dnsNames: certificateDnsNames(ws),
      duration: ws.spec.tls.duration,
      ...(ws.spec.tls.renewBefore ? { renewBefore: ws.spec.tls.renewBefore } : {}),
      issuerRef: { name: ref.name, kind: ref.kind, group: ref.group },
      privateKey: { algorithm: 'RSA', size: 2048, rotationPolicy: 'Always' },
      usages: ['server auth', 'digital signature', 'key encipherment'],
    },
  };
}

export const CERT_MANAGER_MISSING: ConditionInput = {
  type: 'CertificateReady',
  status: 'False',
  reason: 'CertManagerNotInstalled',
  message:
    'spec.tls.issuer is CertManager but cert-manager is not installed (no certificates.cert-manager.io API); install cert-manager or set spec.tls.issuer: Internal',
};

export function certManagerCondition(certificate: KubeObject | undefined): ConditionInput {
  const conditions = (
    certificate?.status as
      { conditions?: { type: string; status: string; reason?: string; message?: string }[] } | undefined
  )?.conditions;
  const ready = conditions?.find((c) => c.type === 'Ready');
  if (!ready) {
    return {
      type: 'CertificateReady',
      status: 'False',
      reason: 'Issuing',
      message: `waiting for cert-manager to issue Certificate ${TLS_SECRET}`,
    };
  }
  return {
    type: 'CertificateReady',
    status: ready.status === 'True' ? 'True' : 'False',
    reason: ready.status === 'True' ? 'Issued' : (ready.reason ?? 'NotReady'),
    message: `cert-manager Certificate ${TLS_SECRET}: ${ready.message ?? ready.status}`,
  };
}
