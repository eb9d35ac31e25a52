import { execFile } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certInfo, createCa, issueServerCertificate, signedBy, type KeyPair } from './x509.js';

const openssl = (...args: string[]) => promisify(execFile)('openssl', args).then((r) => r.stdout);
const day = 86_400_000;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'holdfast-x509-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** OpenSSL's verdict on `leaf` under `ca`, and the key identifiers both carry. */
async function opensslView(ca: KeyPair, leaf: KeyPair) {
  await writeFile(path.join(dir, 'ca.pem'), ca.certPem);
  await writeFile(path.join(dir, 'leaf.pem'), leaf.certPem);
  const verdict = await openssl('verify', '-CAfile', path.join(dir, 'ca.pem'), path.join(dir, 'leaf.pem'));
  const text = (f: string) => openssl('x509', '-in', path.join(dir, f), '-noout', '-text');
  const after = (t: string, heading: string) => t.split(`${heading}: \n`)[1]?.split('\n')[0]?.trim();
  const caText = await text('ca.pem');
  const leafText = await text('leaf.pem');
  return {
    verdict: verdict.trim(),
    caKeyId: after(caText, 'X509v3 Subject Key Identifier'),
    leafAuthorityKeyId: after(leafText, 'X509v3 Authority Key Identifier'),
    leafSignature: /Signature Algorithm: (\S+)/.exec(leafText)?.[1],
  };
}

describe('the internal issuer', () => {
  it('gives workspaces P-256 keys signed by its RSA CA, which OpenSSL verifies', async () => {
    const now = new Date();
    const ca = await createCa({ commonName: 'Holdfast CA test', now, durationMs: 30 * day, permittedDns: ['svc'] });
    const leaf = await issueServerCertificate({ ca, dnsNames: ['db.ws-a.svc'], now, durationMs: 90 * day });
    expect(createPrivateKey(leaf.keyPem).asymmetricKeyDetails).toEqual({ namedCurve: 'prime256v1' });
    expect(createPrivateKey(ca.keyPem).asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(signedBy(leaf.certPem, ca.certPem)).toBe(true);
    const view = await opensslView(ca, leaf);
    expect(view.verdict).toBe(`${path.join(dir, 'leaf.pem')}: OK`);
    expect(view.leafAuthorityKeyId).toBe(view.caKeyId);
    expect(view.leafSignature).toBe('sha256WithRSAEncryption');
    // Never outlives its CA.
    expect(certInfo(leaf.certPem).notAfter.getTime()).toBeLessThanOrEqual(certInfo(ca.certPem).notAfter.getTime());
  });

  it('signs with a CA of the customer that has an ECDSA key, naming its own key identifier', async () => {
    await openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-384',
      '-nodes',
      '-days',
      '30',
      '-subj',
      '/CN=Customer CA/O=Acme',
      '-addext',
      'basicConstraints=critical,CA:true',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout',
      path.join(dir, 'customer.key'),
      '-out',
      path.join(dir, 'customer.pem'),
    );
    const ca = {
      certPem: await readFile(path.join(dir, 'customer.pem'), 'utf8'),
      keyPem: await readFile(path.join(dir, 'customer.key'), 'utf8'),
    };
    const leaf = await issueServerCertificate({ ca, dnsNames: ['db.ws-b.svc'], now: new Date(), durationMs: day });
    const view = await opensslView(ca, leaf);
    expect(view.verdict).toBe(`${path.join(dir, 'leaf.pem')}: OK`);
    expect(view.leafAuthorityKeyId).toBe(view.caKeyId);
    expect(view.leafSignature).toBe('ecdsa-with-SHA256');
    expect(certInfo(leaf.certPem).issuer).toBe('CN=Customer CA\nO=Acme');
  });
});
