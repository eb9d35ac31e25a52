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

export async function createCa(opts: { commonName: string; now: Date; durationMs: number }): Promise<KeyPair> {
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
  };
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
