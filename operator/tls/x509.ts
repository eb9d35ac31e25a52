// Certificates for the internal issuer. Workspace (leaf) keys are ECDSA P-256
// and CA keys RSA 2048, both generated natively by node:crypto on libuv's
// thread pool. node-forge lays out the X.509 structure; node:crypto signs it
// (natively, off nothing but a hash of the TBS bytes) and parses and verifies.
//
// Why P-256 for leaves: the seeds ask for 2048-bit RSA as a minimum strength,
// and P-256 is stronger (about 3072-bit RSA) while its key takes well under a
// millisecond to make instead of 50-300 ms of RSA prime search, which is what
// bounds how fast a thousand workspaces get certificates. Every client of a
// workspace database (libpq, node-postgres, pgJDBC, Go's pgx) accepts it. The
// CA stays RSA: it is made once, and a bundle some old tool must trust is
// more likely to be understood with an RSA root.
import {
  X509Certificate,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';

const generate = promisify(generateKeyPair);

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

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;

interface NewKey {
  keyPem: string;
  key: KeyObject;
  /** SubjectPublicKeyInfo, DER. */
  spki: Buffer;
}

async function newKey(type: 'rsa' | 'ec'): Promise<NewKey> {
  const { privateKey } = await (type === 'rsa'
    ? generate('rsa', { modulusLength: 2048 })
    : generate('ec', { namedCurve: 'prime256v1' }));
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    key: privateKey,
    spki: createPublicKey(privateKey).export({ type: 'spki', format: 'der' }),
  };
}

function serialNumber(): string {
  // 16 random bytes, positive (high bit clear), as RFC 5280 recommends.
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

const fromDer = (der: Buffer): Asn1 => asn1.fromDer(der.toString('binary'));

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits, as hex. */
function keyIdentifier(spki: Buffer): string {
  // Read as bytes: forge would otherwise parse an RSA key's bits as ASN.1.
  const parsed = (asn1.fromDer as unknown as (bytes: string, options: { decodeBitStrings: boolean }) => Asn1)(
    spki.toString('binary'),
    { decodeBitStrings: false },
  );
  const bits = (parsed.value as Asn1[])[1]!.value as string;
  return createHash('sha1')
    .update(Buffer.from(bits.slice(1), 'binary'))
    .digest('hex');
}

/** The signature AlgorithmIdentifier for a signing key: SHA-256 with RSA or with ECDSA. */
function signatureAlgorithm(key: KeyObject): Asn1 {
  const seq = (items: Asn1[]) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, items);
  const oid = (o: string) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(o).getBytes());
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return seq([oid('1.2.840.113549.1.1.11'), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '')]);
    case 'ec':
      // RFC 5758 3.2: the parameters are absent.
      return seq([oid('1.2.840.10045.4.3.2')]);
    default:
      throw new Error(`a CA key of type ${key.asymmetricKeyType ?? 'unknown'} cannot sign: use RSA or ECDSA`);
  }
}

/**
 * Signs `cert` natively. forge builds the TBSCertificate around a placeholder
 * RSA key; its public key, signature algorithm and (for a leaf) issuer name
 * are then replaced by the real DER, so that any key type works.
 */
function signNatively(cert: forge.pki.Certificate, spki: Buffer, signer: KeyObject, issuerName?: Asn1): string {
  cert.publicKey = PLACEHOLDER;
  cert.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption!;
  const algorithm = signatureAlgorithm(signer);
  const tbs = getTBSCertificate(cert);
  const fields = tbs.value as Asn1[];
  // version, serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, extensions
  fields[2] = algorithm;
  if (issuerName) fields[3] = issuerName;
  fields[6] = fromDer(spki);
  const signature = sign('sha256', Buffer.from(asn1.toDer(tbs).getBytes(), 'binary'), signer);
  const certificate = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    tbs,
    signatureAlgorithm(signer),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, '\0' + signature.toString('binary')),
  ]);
  return forge.pem.encode({ type: 'CERTIFICATE', body: asn1.toDer(certificate).getBytes() }, { maxline: 64 });
}

// Public in node-forge, missing from its type definitions.
const getTBSCertificate = (cert: forge.pki.Certificate): Asn1 =>
  (forge.pki as unknown as { getTBSCertificate(cert: forge.pki.Certificate): Asn1 }).getTBSCertificate(cert);

/** Only to let forge lay out the TBSCertificate; replaced before signing. */
const PLACEHOLDER = forge.pki.setRsaPublicKey(new forge.jsbn.BigInteger('3'), new forge.jsbn.BigInteger('3'));

interface Signer {
  key: KeyObject;
  /** The CA's subject Name, DER-exact, to be the leaf's issuer. */
  subject: Asn1;
  keyId: string;
  notAfter: Date;
}

/** Parsed CAs, by certificate PEM: parsing a key and a certificate per leaf adds up over a thousand workspaces. */
const signers = new Map<string, Signer>();

function signerOf(ca: KeyPair): Signer {
  const known = signers.get(ca.certPem);
  if (known) return known;
  const x = new X509Certificate(ca.certPem);
  const tbs = (fromDer(x.raw).value as Asn1[])[0]!;
  const signer: Signer = {
    key: createPrivateKey(ca.keyPem),
    subject: (tbs.value as Asn1[])[5]!,
    keyId: keyIdOf(tbs) ?? keyIdentifier(x.publicKey.export({ type: 'spki', format: 'der' })),
    notAfter: new Date(x.validTo),
  };
  if (signers.size >= 16) signers.delete(signers.keys().next().value!);
  signers.set(ca.certPem, signer);
  return signer;
}

/** The extnValue octets of the extension `oid` in a TBSCertificate, if present. */
function extensionOf(tbs: Asn1, oid: string): string | undefined {
  const explicit3 = (tbs.value as Asn1[]).find(
    (v) => v.tagClass === asn1.Class.CONTEXT_SPECIFIC && (v.type as number) === 3,
  );
  const extensions = ((explicit3?.value as Asn1[] | undefined)?.[0]?.value ?? []) as Asn1[];
  for (const ext of extensions) {
    const parts = ext.value as Asn1[];
    if (asn1.derToOid(parts[0]!.value as string) === oid) return parts[parts.length - 1]!.value as string;
  }
  return undefined;
}

/** The CA's own subjectKeyIdentifier, which a leaf's authorityKeyIdentifier must repeat. */
function keyIdOf(tbs: Asn1): string | undefined {
  const octets = extensionOf(tbs, '2.5.29.14');
  return octets === undefined ? undefined : forge.util.bytesToHex(asn1.fromDer(octets).value as string);
}

/** The subjectKeyIdentifier extension, given whole: forge would derive it from an RSA key only. */
function subjectKeyIdentifier(spki: Buffer): { id: string; value: Asn1 } {
  const octets = forge.util.hexToBytes(keyIdentifier(spki));
  return { id: '2.5.29.14', value: asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, octets) };
}

/** The X.509 NameConstraints extension (RFC 5280 4.2.1.10) permitting only these DNS subtrees. */
function nameConstraints(permittedDns: string[]): { id: string; critical: boolean; value: Asn1 } {
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
  const { keyPem, key, spki } = await newKey('rsa');
  const cert = forge.pki.createCertificate();
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
    subjectKeyIdentifier(spki),
    ...(opts.permittedDns ? [nameConstraints(opts.permittedDns)] : []),
  ]);
  return { certPem: signNatively(cert, spki, key), keyPem };
}

export async function issueServerCertificate(opts: {
  ca: KeyPair;
  dnsNames: string[];
  now: Date;
  durationMs: number;
}): Promise<KeyPair> {
  const signer = signerOf(opts.ca);
  const { keyPem, spki } = await newKey('ec');
  const cert = forge.pki.createCertificate();
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(opts.now.getTime() - BACKDATE_MS);
  // Never outlive the signing CA.
  cert.validity.notAfter = new Date(Math.min(opts.now.getTime() + opts.durationMs, signer.notAfter.getTime()));
  cert.setSubject([{ name: 'commonName', value: opts.dnsNames[0] ?? 'holdfast' }]);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    // An ECDSA key signs the handshake; it encrypts no key (RFC 5480 3).
    { name: 'keyUsage', digitalSignature: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', altNames: opts.dnsNames.map((value) => ({ type: 2, value })) },
    subjectKeyIdentifier(spki),
    { name: 'authorityKeyIdentifier', keyIdentifier: forge.util.hexToBytes(signer.keyId) },
  ]);
  return { certPem: signNatively(cert, spki, signer.key, signer.subject), keyPem };
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
  const octets = extensionOf((fromDer(der).value as Asn1[])[0]!, '2.5.29.30');
  if (octets === undefined) return {};
  const result = { permitted: [] as string[], excluded: [] as string[] };
  for (const trees of asn1.fromDer(octets).value as Asn1[]) {
    const list = (trees.type as number) === 0 ? result.permitted : result.excluded;
    for (const subtree of trees.value as Asn1[]) {
      const base = (subtree.value as Asn1[])[0]!;
      if (base.tagClass === asn1.Class.CONTEXT_SPECIFIC && (base.type as number) === 2)
        list.push((base.value as string).replace(/^\./, ''));
    }
  }
  return { dnsConstraints: result };
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
