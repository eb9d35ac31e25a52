import https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, issueServerCertificate, type KeyPair } from '../../operator/tls/x509.js';
import { ApiError, Rest, resourceOf } from '../../kube/rest.js';

// A TLS server that asks for a client certificate as the apiserver does, and
// counts the connections and handshakes it sees.
describe('Rest', () => {
  let ca: KeyPair;
  let server: https.Server;
  let handshakes = 0;
  let kc: k8s.KubeConfig;

  beforeAll(async () => {
    const now = new Date();
    ca = await createCa({ commonName: 'test-ca', now, durationMs: 3_600_000 });
    const serving = await issueServerCertificate({ ca, dnsNames: ['localhost'], now, durationMs: 3_600_000 });
    const client = await issueServerCertificate({ ca, dnsNames: ['operator'], now, durationMs: 3_600_000 });
    server = https.createServer(
      { cert: serving.certPem, key: serving.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          if (req.url === '/missing') {
            res.writeHead(404, { 'Content-Type': 'application/json' });
            res.end(JSON.stringify({ kind: 'Status', reason: 'NotFound', message: 'configmaps "x" not found' }));
            return;
          }
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ method: req.method, body: Buffer.concat(chunks).toString() }));
        });
      },
    );
    server.on('secureConnection', () => handshakes++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `https://localhost:${port}`, caData: b64(ca.certPem), skipTLSVerify: false }],
      users: [{ name: 'u', certData: b64(client.certPem), keyData: b64(client.keyPem) }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('reuses its TLS connections across requests and across Rest instances', async () => {
    const before = handshakes;
    const a = new Rest(kc);
    const b = new Rest(kc);
    for (let i = 0; i < 20; i++) {
      expect(await a.request('PUT', '/x', { body: { i } })).toEqual({ method: 'PUT', body: `{"i":${i}}` });
      expect(await b.get('/y')).toEqual({ method: 'GET', body: '' });
    }
    expect(handshakes - before).toBe(1);
    // Eight at once open up to eight connections, which the next eight reuse.
    await Promise.all(Array.from({ length: 8 }, () => a.get('/z')));
    const afterBurst = handshakes;
    expect(afterBurst - before).toBeGreaterThan(1);
    await Promise.all(Array.from({ length: 8 }, () => a.get('/z')));
    expect(handshakes).toBe(afterBurst);
  });

  it("turns the apiserver's Status into an ApiError with its code and reason", async () => {
    const err = await new Rest(kc).get('/missing').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 404, reason: 'NotFound', message: 'configmaps "x" not found' });
    expect(await new Rest(kc).find('/missing')).toBeUndefined();
  });
});

describe('resourceOf', () => {
  it('names the resource of core, grouped, namespaced and subresource paths', () => {
    expect(resourceOf('/api/v1/namespaces')).toBe('namespaces');
    expect(resourceOf('/api/v1/namespaces/ws-a')).toBe('namespaces');
    expect(resourceOf('/api/v1/namespaces/ws-a/secrets/tls')).toBe('secrets');
    expect(resourceOf('/apis/coordination.k8s.io/v1/namespaces/holdfast-system/leases/holdfast')).toBe('leases');
    expect(resourceOf('/apis/holdfast.io/v1alpha1/workspaces/a/status?fieldManager=x')).toBe('workspaces');
  });
});

const b64 = (s: string) => Buffer.from(s).toString('base64');
