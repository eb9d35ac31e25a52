// Certificates for the internal issuer. Keys are RSA 2048, generated natively
// by node:crypto (the seeds promise 2048-bit keys, and every PostgreSQL client
// and TLS library accepts RSA); node-forge builds and signs the X.509
// structure; node:crypto parses and verifies.
import { X509Certificate, generateKeyPair, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';

const generateRsa = promisify(generateKeyPair);

export interface KeyPair {
  certPem: string;
  keyPem: string;
}

export interface CertInfo {
  serial: string;
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
  /** Name constraints on DNS names, when the certificate carries them. */
  dnsConstraints?: { permitted: string[]; excluded: string[] };
}

/** Certificates are valid from a little before issuance, for small clock skew. */
const BACKDATE_MS = 5_000;

async function newKey(): Promise<{
  keyPem: string;
  forgeKey: forge.pki.rsa.PrivateKey;
  publicKey: forge.pki.rsa.PublicKey;
}> {
  const { privateKey } = await generateRsa('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const forgeKey = forge.pki.privateKeyFromPem(privateKey);
  const publicKey = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  return { keyPem: privateKey, forgeKey, publicKey };
}

function serialNumber(): string {
  // 16 random bytes, positive (high bit clear), as RFC 5280 recommends.
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

/** The X.509 NameConstraints extension (RFC 5280 4.2.1.10) permitting only these DNS subtrees. */
function nameConstraints(permittedDns: string[]): { id: string; critical: boolean; value: forge.asn1.Asn1 } {
  const { asn1 } = forge;
  const subtree = (dns: string) =>
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      asn1.create(asn1.Class.CONTEXT_SPECIFIC, 2, false, dns),
    ]);
  return {
    id: '2.5.29.30',
    // RFC 5280: conforming CAs MUST mark this extension as critical.
    critical: true,
    value: asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, permittedDns.map(subtree)),
    ]),
  };
}

export async function createCa(opts: {
  commonName: string;
  now: Date;
  durationMs: number;
  /** DNS subtrees the CA may sign names in; every name is permitted when absent. */
  permittedDns?: string[];
}): Promise<KeyPair> {
  const { keyPem, forgeKey, publicKey } = await newKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(opts.now.getTime() - BACKDATE_MS);
  cert.validity.notAfter = new Date(opts.now.getTime() + opts.durationMs);
  const subject = [
    { name: 'commonName', value: opts.commonName },
    { name: 'organizationName', value: 'Holdfast' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true, pathLenConstraint: 0 },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    ...(opts.permittedDns ? [nameConstraints(opts.permittedDns)] : []),
  ]);
  cert.sign(forgeKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

export async function issueServerCertificate(opts: {
  ca: KeyPair;
  dnsNames: string[];
  now: Date;
  durationMs: number;
}): Promise<KeyPair> {
  const caCert = forge.pki.certificateFromPem(opts.ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(opts.ca.keyPem);
  const { keyPem, publicKey } = await newKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(opts.now.getTime() - BACKDATE_MS);
  // Never outlive the signing CA.
  cert.validity.notAfter = new Date(Math.min(opts.now.getTime() + opts.durationMs, caCert.validity.notAfter.getTime()));
  cert.setSubject([{ name: 'commonName', value: opts.dnsNames[0] ?? 'holdfast' }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', altNames: opts.dnsNames.map((value) => ({ type: 2, value })) },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

export function certInfo(pem: string): CertInfo {
  const x = new X509Certificate(pem);
  return {
    serial: x.serialNumber.toLowerCase(),
    subject: x.subject,
    issuer: x.issuer,
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    dnsNames: (x.subjectAltName ?? '')
      .split(', ')
      .filter((s) => s.startsWith('DNS:'))
      .map((s) => s.slice(4)),
    ...dnsConstraintsOf(x.raw),
  };
}

/**
 * Reads the DNS name constraints from the certificate's DER (any key type:
 * a customer's CA may be ECDSA, which node-forge's certificate parser refuses).
 */
function dnsConstraintsOf(der: Buffer): Pick<CertInfo, 'dnsConstraints'> {
  const { asn1 } = forge;
  const tbs = asn1.fromDer(der.toString('binary')).value[0] as forge.asn1.Asn1;
  const explicit3 = (tbs.value as forge.asn1.Asn1[]).find(
    (v) => v.tagClass === asn1.Class.CONTEXT_SPECIFIC && (v.type as number) === 3,
  );
  const extensions = ((explicit3?.value as forge.asn1.Asn1[] | undefined)?.[0]?.value ?? []) as forge.asn1.Asn1[];
  for (const ext of extensions) {
    const parts = ext.value as forge.asn1.Asn1[];
    if (asn1.derToOid(parts[0]!.value as string) !== '2.5.29.30') continue;
    const octets = parts[parts.length - 1]!.value as string;
    const result = { permitted: [] as string[], excluded: [] as string[] };
    for (const trees of asn1.fromDer(octets).value as forge.asn1.Asn1[]) {
      const list = (trees.type as number) === 0 ? result.permitted : result.excluded;
      for (const subtree of trees.value as forge.asn1.Asn1[]) {
        const base = (subtree.value as forge.asn1.Asn1[])[0]!;
        if (base.tagClass === asn1.Class.CONTEXT_SPECIFIC && (base.type as number) === 2)
          list.push((base.value as string).replace(/^\./, ''));
      }
    }
    return { dnsConstraints: result };
  }
  return {};
}

/** True when a CA with these constraints may sign `name` (RFC 5280 DNS subtrees). */
export function permittedByCa(info: CertInfo, name: string): boolean {
  const c = info.dnsConstraints;
  if (!c) return true;
  const within = (base: string) => base === '' || name === base || name.endsWith(`.${base}`);
  return (c.permitted.length === 0 || c.permitted.some(within)) && !c.excluded.some(within);
}

/** True when `certPem` was signed by the CA in `caPem`. */
export function signedBy(certPem: string, caPem: string): boolean {
  const cert = new X509Certificate(certPem);
  const ca = new X509Certificate(caPem);
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

/** Splits a PEM bundle into its certificates. */
export function splitBundle(bundle: string): string[] {
  return (
    bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)?.map((c) => c.trim() + '\n') ?? []
  );
}
