// Workspace certificates against a real PostgreSQL: real handshakes with
// verify-full, renewal and CA rotation sampled continuously.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { namespaceOf } from '../../operator/api/workspace.js';
import { objectPath } from '../../kube/rest.js';
import { certInfo, signedBy, splitBundle } from '../../operator/tls/x509.js';
import { eventually } from '../harness/kube.js';
import { uniqueName } from '../harness/names.js';
import { installCrds, installThirdPartyCrds, startOperator, type RunningOperator } from '../harness/operator.js';
import { startPostgres, type TestPostgres } from '../harness/postgres.js';
import { Workspaces } from '../harness/workspaces.js';

const run = promisify(execFile);
interface Tls {
  cert: string;
  key: string;
  ca: string;
  signer: string | undefined;
}

async function readTls(w: Workspaces, name: string): Promise<Tls | undefined> {
  const secret = (await w.object('Secret', 'db-tls', namespaceOf(name))) as
    { data?: Record<string, string>; metadata: { annotations?: Record<string, string> } } | undefined;
  if (!secret?.data) return undefined;
  const d = (k: string) => Buffer.from(secret.data![k] ?? '', 'base64').toString('utf8');
  return {
    cert: d('tls.crt'),
    key: d('tls.key'),
    ca: d('ca.crt'),
    signer: secret.metadata.annotations?.['holdfast.io/signer-serial'],
  };
}

async function handshake(pg: TestPostgres, ca: string, servername: string): Promise<void> {
  const sql = postgres({
    host: pg.host,
    port: pg.port,
    user: pg.user,
    password: pg.password,
    database: 'postgres',
    ssl: { ca, servername, rejectUnauthorized: true },
    max: 1,
    connect_timeout: 5,
    onnotice: () => undefined,
  });
  try {
    const [row] = await sql<{ ssl: boolean }[]>`select ssl from pg_stat_ssl where pid = pg_backend_pid()`;
    if (row?.ssl !== true) throw new Error('connection is not encrypted');
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/**
 * For `seconds`: the server follows the Secret (as a pod with the Secret
 * mounted and a reload would), and a client connects every few hundred ms
 * trusting the bundle it read `lagMs` earlier (as a client that caches it).
 */
async function sample(w: Workspaces, name: string, pg: TestPostgres, seconds: number, lagMs: number) {
  const servername = `db.${namespaceOf(name)}.svc`;
  const bundles: { at: number; ca: string }[] = [];
  const failures: string[] = [];
  const leaves: { serial: string; notAfter: Date; replacedAt?: number; signer?: string }[] = [];
  let handshakes = 0;
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const tls = await readTls(w, name);
    if (tls) {
      const info = certInfo(tls.cert);
      if (leaves.at(-1)?.serial !== info.serial) {
        const previous = leaves.at(-1);
        if (previous) previous.replacedAt = Date.now();
        leaves.push({ serial: info.serial, notAfter: info.notAfter, signer: tls.signer });
        await pg.useCertificate(tls.cert, tls.key);
      }
      bundles.push({ at: Date.now(), ca: tls.ca });
    }
    const trusted = [...bundles].reverse().find((b) => b.at <= Date.now() - lagMs) ?? bundles[0];
    if (trusted) {
      handshakes++;
      try {
        await handshake(pg, trusted.ca, servername);
      } catch (err) {
        failures.push(`${new Date().toISOString()} ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return { handshakes, failures, leaves };
}

describe('workspace certificates', () => {
  let pg: TestPostgres;
  let encrypted: string;
  const operators: RunningOperator[] = [];

  beforeAll(async () => {
    await installCrds();
    pg = await startPostgres();
    encrypted = await new Workspaces().storageClass({ encrypted: true });
  });
  afterAll(async () => {
    for (const op of operators) await op.stop();
    await pg?.stop();
  });

  async function operator(w: Workspaces, env: Record<string, string> = {}): Promise<RunningOperator> {
    const op = await startOperator({ selector: w.selector, leaseName: w.run, env });
    operators.push(op);
    return op;
  }

  it('issues a certificate that PostgreSQL serves and a verify-full client accepts', async () => {
    const w = new Workspaces();
    const op = await operator(w, { HOLDFAST_ALLOWED_DNS_SUFFIXES: 'acme.example.com' });
    const name = await w.create('tls', {
      volume: { storageClassName: encrypted },
      tls: { dnsNames: ['db.acme.example.com'] },
    });
    const ws = await w.waitForCondition(name, 'Ready', 'True');
    expect(w.condition(ws, 'CertificateReady')).toMatchObject({ status: 'True', reason: 'Issued' });
    const tls = (await readTls(w, name))!;
    const info = certInfo(tls.cert);
    expect(info.dnsNames).toEqual(expect.arrayContaining([`db.${namespaceOf(name)}.svc`, 'db.acme.example.com']));
    expect(ws.status?.certificate).toMatchObject({
      secretName: 'db-tls',
      serial: info.serial,
      notAfter: info.notAfter.toISOString(),
    });
    // Default lifetime 90 days, renewed at 2/3 of it.
    const days = (info.notAfter.getTime() - info.notBefore.getTime()) / 86_400_000;
    expect(days).toBeGreaterThan(89.9);
    expect(new Date(ws.status!.certificate!.renewalTime!).getTime()).toBeCloseTo(
      info.notBefore.getTime() + (info.notAfter.getTime() - info.notBefore.getTime()) * (2 / 3),
      -4,
    );
    expect(splitBundle(tls.ca).some((ca) => signedBy(tls.cert, ca))).toBe(true);

    await pg.useCertificate(tls.cert, tls.key);
    await handshake(pg, tls.ca, `db.${namespaceOf(name)}.svc`);
    await handshake(pg, tls.ca, 'db.acme.example.com');
    await expect(handshake(pg, tls.ca, 'db.other.example.com')).rejects.toThrow(/Hostname\/IP does not match/);

    // The private key is in the Secret and nowhere else.
    const marker = tls.key.split('\n')[1]!;
    const log = await readFile(op.logFile, 'utf8');
    expect(log).not.toContain('PRIVATE KEY');
    expect(log).not.toContain(marker);
    expect(JSON.stringify(ws.status)).not.toContain(marker);
    expect(JSON.stringify(await w.events(name))).not.toContain('PRIVATE KEY');
  });

  it("signs only the workspace's own names and allowed domains, under a CA whose name constraints a verifier enforces", async () => {
    const w = new Workspaces();
    await operator(w, { HOLDFAST_ALLOWED_DNS_SUFFIXES: 'db.acme.example.com' });
    const name = await w.create('names', {
      volume: { storageClassName: encrypted },
      tls: {
        dnsNames: ['pay.db.acme.example.com', '*.db.acme.example.com', 'db.ws-other.svc', 'login.corp.example.org'],
      },
    });
    const ns = namespaceOf(name);
    const ws = await eventually('CertificateReady reason DNSNameNotAllowed', async () => {
      const got = await w.get(name);
      return w.condition(got, 'CertificateReady')?.reason === 'DNSNameNotAllowed' ? got : undefined;
    });
    const condition = w.condition(ws, 'CertificateReady')!;
    expect(condition.status).toBe('False');
    for (const refused of [
      'spec.tls.dnsNames[1] "*.db.acme.example.com"',
      'spec.tls.dnsNames[2] "db.ws-other.svc"',
      'spec.tls.dnsNames[3] "login.corp.example.org"',
    ])
      expect(condition.message).toContain(refused);
    expect(condition.message).not.toContain('dnsNames[0]');
    expect(condition.message).toContain('HOLDFAST_ALLOWED_DNS_SUFFIXES');
    expect(w.condition(ws, 'Ready')).toMatchObject({ status: 'False', reason: 'DNSNameNotAllowed' });

    // The database still gets a certificate, for the names that are allowed only.
    const tls = await eventually('the db-tls Secret', () => readTls(w, name));
    expect(certInfo(tls.cert).dnsNames.sort()).toEqual(
      ['db', `db.${ns}.svc`, `db.${ns}.svc.cluster.local`, 'pay.db.acme.example.com'].sort(),
    );
    await pg.useCertificate(tls.cert, tls.key);
    await handshake(pg, tls.ca, `db.${ns}.svc`);
    await handshake(pg, tls.ca, 'pay.db.acme.example.com');
    await expect(handshake(pg, tls.ca, 'login.corp.example.org')).rejects.toThrow(/Hostname\/IP does not match/);

    // Even a leaf the installation CA's own key signs for another name is
    // refused by verifiers: the CA carries name constraints.
    const caSecret = (await w.object('Secret', `ca-${w.run}`, 'holdfast-system')) as unknown as {
      data: Record<string, string>;
      metadata: { annotations: Record<string, string> };
    };
    const serial = (JSON.parse(caSecret.metadata.annotations['holdfast.io/ca-state']!) as { current: string }).current;
    const b64 = (k: string) => Buffer.from(caSecret.data[k]!, 'base64').toString('utf8');
    const ca = { certPem: b64(`${serial}.crt`), keyPem: b64(`${serial}.key`) };
    const { issueServerCertificate } = await import('../../operator/tls/x509.js');
    const forged = await issueServerCertificate({
      ca,
      dnsNames: ['login.corp.example.org'],
      now: new Date(),
      durationMs: 3_600_000,
    });
    const dir = inject('controlPlaneDir');
    await writeFile(path.join(dir, `${name}-ca.crt`), ca.certPem);
    await writeFile(path.join(dir, `${name}-forged.crt`), forged.certPem);
    await writeFile(path.join(dir, `${name}-leaf.crt`), tls.cert);
    const verify = (leaf: string) =>
      run('openssl', ['verify', '-CAfile', path.join(dir, `${name}-ca.crt`), path.join(dir, leaf)]);
    const refusal = await verify(`${name}-forged.crt`).then(
      () => 'verified',
      (err: { stdout: string; stderr: string }) => `${err.stdout}${err.stderr}`,
    );
    expect(refusal).toContain('permitted subtree violation');
    expect((await verify(`${name}-leaf.crt`)).stdout).toContain(': OK');
    await pg.useCertificate(forged.certPem, forged.keyPem);
    await expect(handshake(pg, tls.ca, 'login.corp.example.org')).rejects.toThrow(/permitted subtree violation/i);

    // Removing the refused names makes the certificate ready.
    await w.rest.request('PATCH', objectPath('Workspace', name), {
      body: { spec: { tls: { dnsNames: ['pay.db.acme.example.com'] } } },
      contentType: 'application/merge-patch+json',
    });
    await w.waitForCondition(name, 'CertificateReady', 'True');
  });

  it('renews the leaf before it expires while clients keep connecting', async () => {
    const w = new Workspaces();
    await operator(w);
    const name = await w.create('renew', {
      volume: { storageClassName: encrypted },
      tls: { duration: '20s', renewBefore: '10s' },
    });
    await w.waitForCondition(name, 'CertificateReady', 'True');
    const result = await sample(w, name, pg, 28, 0);
    expect(result.failures).toEqual([]);
    expect(result.leaves.length).toBeGreaterThanOrEqual(3);
    for (const leaf of result.leaves.slice(0, -1)) {
      expect(leaf.replacedAt).toBeLessThan(leaf.notAfter.getTime());
    }
    expect(result.handshakes).toBeGreaterThan(50);
  });

  it('rotates the CA without a failed handshake for clients that hold the bundle', async () => {
    const w = new Workspaces();
    // A 60-second CA: rotation starts at 40 s, the new CA signs 8 s later, the
    // old one expires at 60 s. (Shorter, a machine busy with the rest of the
    // suite can leave a leaf of the old CA in use past its end.)
    const op = await operator(w, { HOLDFAST_CA_DURATION: '60s', HOLDFAST_CA_OVERLAP: '8s' });
    const name = await w.create('rotate', { volume: { storageClassName: encrypted } });
    await w.waitForCondition(name, 'CertificateReady', 'True');
    // Clients trust the bundle as it was 2 seconds ago.
    const result = await sample(w, name, pg, 75, 2000);
    const signers = [...new Set(result.leaves.map((l) => l.signer))];
    console.log(
      `CA rotation: ${result.handshakes} handshakes, ${result.failures.length} failed, ${result.leaves.length} leaves from ${signers.length} CAs`,
    );
    expect(result.failures).toEqual([]);
    expect(signers.length).toBeGreaterThanOrEqual(2);
    const reasons = (
      await w.rest.get<{ items: { reason: string; regarding?: { name?: string } }[] }>(
        `/apis/events.k8s.io/v1/namespaces/holdfast-system/events`,
      )
    ).items
      .filter((e) => e.regarding?.name === `ca-${w.run}`)
      .map((e) => e.reason);
    expect(reasons).toEqual(
      expect.arrayContaining(['CACreated', 'CARotationStarted', 'CABundled', 'CAPromoted', 'CARetired']),
    );

    // A rotation can also be asked for.
    await w.rest.request('PATCH', objectPath('Secret', `ca-${w.run}`, 'holdfast-system'), {
      body: { metadata: { annotations: { 'holdfast.io/rotate-ca': 'now' } } },
      contentType: 'application/merge-patch+json',
    });
    await eventually('a requested rotation', async () => {
      const log = await readFile(op.logFile, 'utf8');
      const events = (
        await w.rest.get<{ items: { reason: string; note?: string }[] }>(
          `/apis/events.k8s.io/v1/namespaces/holdfast-system/events`,
        )
      ).items;
      return events.some((e) => e.reason === 'CARotationStarted' && e.note?.includes('requested')) && log.length > 0
        ? true
        : undefined;
    });
  });

  it("signs with the customer's own CA and never rotates it", async () => {
    const w = new Workspaces();
    const dir = inject('controlPlaneDir');
    const secretName = uniqueName('customer-ca');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '30',
      '-subj',
      '/CN=ACME Internal CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout',
      path.join(dir, `${secretName}.key`),
      '-out',
      path.join(dir, `${secretName}.crt`),
    ]);
    const caPem = await readFile(path.join(dir, `${secretName}.crt`), 'utf8');
    const keyPem = await readFile(path.join(dir, `${secretName}.key`), 'utf8');
    await w.rest.request('POST', '/api/v1/namespaces/holdfast-system/secrets', {
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/tls',
        metadata: { name: secretName },
        data: { 'tls.crt': Buffer.from(caPem).toString('base64'), 'tls.key': Buffer.from(keyPem).toString('base64') },
      },
    });
    await operator(w, { HOLDFAST_CA_SECRET: secretName });
    const name = await w.create('own-ca', { volume: { storageClassName: encrypted } });
    await w.waitForCondition(name, 'Ready', 'True');
    const tls = (await readTls(w, name))!;
    expect(signedBy(tls.cert, caPem)).toBe(true);
    expect(tls.ca.trim()).toBe(caPem.trim());
    const secret = await w.object('Secret', secretName, 'holdfast-system');
    expect(secret?.metadata.annotations?.['holdfast.io/ca-state']).toBeUndefined();
    await pg.useCertificate(tls.cert, tls.key);
    await handshake(pg, caPem, `db.${namespaceOf(name)}.svc`);

    // The customer's CA signs no name outside the policy either.
    await w.rest.request('PATCH', objectPath('Workspace', name), {
      body: { spec: { tls: { dnsNames: ['portal.corp.example.org'] } } },
      contentType: 'application/merge-patch+json',
    });
    const refused = await w.waitForCondition(name, 'CertificateReady', 'False');
    expect(w.condition(refused, 'CertificateReady')?.reason).toBe('DNSNameNotAllowed');
    expect(w.condition(refused, 'CertificateReady')?.message).toContain(
      'spec.tls.dnsNames[0] "portal.corp.example.org"',
    );
    expect(certInfo((await readTls(w, name))!.cert).dnsNames).not.toContain('portal.corp.example.org');
  });

  it('says so when the issuer is cert-manager and cert-manager is not installed', async () => {
    const w = new Workspaces();
    await operator(w);
    const name = await w.create('cm', {
      volume: { storageClassName: encrypted },
      tls: { issuer: 'CertManager', issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } },
    });
    const ws = await w.waitForCondition(name, 'CertificateReady', 'False');
    expect(w.condition(ws, 'CertificateReady')).toMatchObject({ reason: 'CertManagerNotInstalled' });
    expect(w.condition(ws, 'CertificateReady')?.message).toContain(
      'install cert-manager or set spec.tls.issuer: Internal',
    );
    expect(w.condition(ws, 'Ready')).toMatchObject({ status: 'False', reason: 'CertManagerNotInstalled' });
  });

  it("with cert-manager's CRDs installed, applies a Certificate they accept and follows its Ready condition", async () => {
    await installThirdPartyCrds('cert-manager-crds');

    const w = new Workspaces();
    await operator(w);
    const name = await w.create('cm-ok', {
      volume: { storageClassName: encrypted },
      tls: {
        issuer: 'CertManager',
        issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' },
        duration: '720h',
        dnsNames: ['db.acme.example.com'],
      },
    });
    const ns = namespaceOf(name);
    const waiting = await eventually('CertificateReady reason Issuing', async () => {
      const ws = await w.get(name);
      return w.condition(ws, 'CertificateReady')?.reason === 'Issuing' ? ws : undefined;
    });
    expect(w.condition(waiting, 'Ready')?.status).toBe('False');
    const cert = (await w.object('Certificate', 'db-tls', ns)) as { spec: Record<string, unknown> } | undefined;
    expect(cert?.spec).toMatchObject({
      secretName: 'db-tls',
      duration: '720h',
      issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' },
      privateKey: { algorithm: 'RSA', size: 2048 },
    });
    expect(cert?.spec.dnsNames).toEqual(expect.arrayContaining([`db.${ns}.svc`, 'db.acme.example.com']));

    // What cert-manager's controller would do: write the Secret, then mark the Certificate Ready.
    const { createCa, issueServerCertificate } = await import('../../operator/tls/x509.js');
    const ca = await createCa({ commonName: 'corp-ca', now: new Date(), durationMs: 86_400_000 });
    const leaf = await issueServerCertificate({
      ca,
      dnsNames: cert!.spec.dnsNames as string[],
      now: new Date(),
      durationMs: 3_600_000,
    });
    const b64 = (t: string) => Buffer.from(t).toString('base64');
    await w.rest.request('POST', `/api/v1/namespaces/${ns}/secrets`, {
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/tls',
        metadata: { name: 'db-tls', labels: { 'holdfast.io/workspace': name, 'holdfast.io/component': 'tls' } },
        data: { 'tls.crt': b64(leaf.certPem), 'tls.key': b64(leaf.keyPem), 'ca.crt': b64(ca.certPem) },
      },
    });
    await w.rest.request('PATCH', `${objectPath('Certificate', 'db-tls', ns)}/status`, {
      body: {
        status: {
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'Ready',
              message: 'Certificate is up to date and has not expired',
            },
          ],
        },
      },
      contentType: 'application/merge-patch+json',
    });
    const ready = await w.waitForCondition(name, 'Ready', 'True', 30_000);
    expect(w.condition(ready, 'CertificateReady')?.message).toContain('Certificate is up to date');
    await pg.useCertificate(leaf.certPem, leaf.keyPem);
    await handshake(pg, ca.certPem, 'db.acme.example.com');
  });

  // Garbage collection deletes what still has the Workspace as owner, and
  // cert-manager would then issue no more: Retain releases the Certificate
  // like every other object in the namespace, whatever its API group.
  it('deletionPolicy Retain keeps the cert-manager Certificate, released from the Workspace', async () => {
    await installThirdPartyCrds('cert-manager-crds');
    const w = new Workspaces();
    await operator(w);
    const name = await w.create('cm-keep', {
      volume: { storageClassName: encrypted },
      deletionPolicy: 'Retain',
      tls: { issuer: 'CertManager', issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } },
    });
    const ns = namespaceOf(name);
    const made = await eventually('the Certificate', () => w.object('Certificate', 'db-tls', ns));
    expect(made.metadata.ownerReferences?.[0]?.name).toBe(name);

    await w.delete(name);
    await w.waitGone(name);
    // The garbage collector acts within a second or two on what still has an owner.
    await new Promise((r) => setTimeout(r, 5000));
    const kept = await w.object('Certificate', 'db-tls', ns);
    expect(kept?.metadata.deletionTimestamp).toBeUndefined();
    expect(kept?.metadata.ownerReferences ?? []).toEqual([]);
    expect(kept?.metadata.annotations?.['holdfast.io/retained-from']).toBe(
      `${name}/${made.metadata.ownerReferences![0]!.uid}`,
    );
  });
});
