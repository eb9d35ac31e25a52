// Benchmark: N Workspaces from creation to Ready, then the operator's API
// writes during a quiet period; and, as the raw baseline in the same run, the
// same objects applied directly with the same concurrency.
//
//   npx tsx hack/bench/workspaces.ts [--count 100] [--quiet-seconds 300]
//   npx tsx hack/bench/workspaces.ts --shared [--count 50]
//
// --shared: N Shared workspaces on one real PostgreSQL until DatabaseReady,
// against the raw baseline of the same SQL run directly.
//
// Starts its own control plane and node (hack/control-plane.sh --node) and
// the built operator (npm run build first). Ready includes each Dedicated
// database's real PostgreSQL pod starting (with small requests, so that all
// of them fit on the one node).
import { randomUUID } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { allCrds } from '../../operator/api/crd.js';
import { WorkspaceSpec, type Workspace } from '../../operator/api/workspace.js';
import { APPLY_PATCH } from '../../kube/apply.js';
import { Rest, collectionPath, objectPath, pathOf, type KubeObject } from '../../kube/rest.js';
import { desiredNamespace } from '../../operator/workspace/namespace/desired.js';
import { desiredNetworkPolicies } from '../../operator/workspace/network/desired.js';
import { desiredLimitRange, desiredResourceQuota } from '../../operator/workspace/quota/desired.js';
import { desiredDataClaim } from '../../operator/workspace/volume/desired.js';
import { desiredDatabaseObjects } from '../../operator/workspace/database/dedicated.js';
import { createCa, issueServerCertificate } from '../../operator/tls/x509.js';
import { LOCAL_PROVISIONER } from '../local-volumes.js';
import { LOCAL_POSTGRES_IMAGE } from '../../operator/workspace/database/dedicated.js';
import { freePort, startPostgres } from '../../test/harness/postgres.js';
import { connect, generatePassword, provisionTenancy, sharedIdentifier } from '../../operator/database/shared.js';
import { toBase64 } from '../../kube/secret-data.js';
import { numberArg } from './args.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const COUNT = numberArg('count', 100);
const QUIET_S = numberArg('quiet-seconds', 300);
const CONCURRENCY = 10;
const BENCH_DATABASE = { cpu: '10m', memory: '160Mi' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'holdfast-bench-'));
  const script = path.join(root, 'hack/control-plane.sh');
  const { stdout } = await run(script, ['start', dir, '--node', '--owner-pid', String(process.pid)]);
  const kubeconfig = stdout.trim().split('\n').at(-1)!;
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const rest = new Rest(kc);
  const apply = (obj: unknown, p: string, manager: string) =>
    rest.request('PATCH', p, { body: obj, contentType: APPLY_PATCH, query: { fieldManager: manager, force: 'true' } });
  try {
    for (const crd of allCrds()) await apply(crd, objectPath('CustomResourceDefinition', crd.metadata!.name!), 'bench');
    await sleep(2000);
    await apply(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'holdfast-system' } },
      objectPath('Namespace', 'holdfast-system'),
      'bench',
    );
    await apply(
      {
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name: 'bench', annotations: { 'holdfast.io/encrypted': 'true' } },
        provisioner: LOCAL_PROVISIONER,
        volumeBindingMode: 'WaitForFirstConsumer',
      },
      objectPath('StorageClass', 'bench'),
      'bench',
    );

    const port = await freePort();
    const operator = spawn(process.execPath, [path.join(root, 'dist/cli/main.js'), 'operator'], {
      env: {
        ...process.env,
        KUBECONFIG: kubeconfig,
        HOLDFAST_HEALTH_ADDRESS: `127.0.0.1:${port}`,
        HOLDFAST_LOG_LEVEL: 'warn',
        HOLDFAST_CONCURRENCY: String(CONCURRENCY),
        HOLDFAST_POSTGRES_IMAGE: LOCAL_POSTGRES_IMAGE,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    await sleep(1500);
    if (process.argv.includes('--shared')) {
      await sharedBench(rest);
      operator.kill('SIGTERM');
      await new Promise((r) => operator.once('exit', r));
      return;
    }

    // --- the operator: create N, wait for all Ready ---------------------------
    const names = Array.from({ length: COUNT }, (_, i) => `bench-${String(i).padStart(3, '0')}`);
    const t0 = performance.now();
    await pool(names, CONCURRENCY, async (name) => {
      await rest.request('POST', collectionPath('Workspace'), {
        body: {
          apiVersion: 'holdfast.io/v1alpha1',
          kind: 'Workspace',
          metadata: { name },
          spec: { volume: { storageClassName: 'bench' }, database: { resources: BENCH_DATABASE } },
        },
      });
    });
    const created = performance.now() - t0;
    let allCertified: number | undefined;
    for (;;) {
      const list = await rest.get<{ items: Workspace[] }>(collectionPath('Workspace'));
      const has = (type: string) =>
        list.items.filter((w) => w.status?.conditions?.some((c) => c.type === type && c.status === 'True')).length;
      if (allCertified === undefined && has('CertificateReady') === COUNT) allCertified = performance.now() - t0;
      if (has('Ready') === COUNT) break;
      await sleep(100);
    }
    const allReady = performance.now() - t0;
    allCertified ??= allReady;

    // --- quiet period: what does the operator write? ---------------------------
    await sleep(5000); // let the last status updates and Events settle
    const metric = async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return text
        .split('\n')
        .filter((l) => l.startsWith('holdfast_api_writes_total'))
        .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
    };
    const writesBefore = await metric();
    const byKind = (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())
      .split('\n')
      .filter((l) => l.startsWith('holdfast_api_writes_total'))
      .map((l) => l.replace('holdfast_api_writes_total', ''))
      .join(' ');
    const quietStart = new Date();
    await sleep(QUIET_S * 1000);
    const writesAfter = await metric();
    // An outside check: managedFields entries of holdfast-operator stamped in the window.
    let stamped = 0;
    for (const kind of [
      'Namespace',
      'NetworkPolicy',
      'ResourceQuota',
      'LimitRange',
      'PersistentVolumeClaim',
      'StatefulSet',
      'Service',
      'ConfigMap',
      'Secret',
      'Workspace',
    ] as const) {
      const list = await rest.get<{ items: KubeObject[] }>(collectionPath(kind), {
        labelSelector: kind === 'Workspace' ? undefined : 'holdfast.io/workspace',
      });
      for (const o of list.items) {
        const mf = (o.metadata as { managedFields?: { manager: string; time?: string }[] }).managedFields ?? [];
        stamped += mf.filter(
          (m) => m.manager === 'holdfast-operator' && m.time && new Date(m.time) > quietStart,
        ).length;
      }
    }
    operator.kill('SIGTERM');
    await new Promise((r) => operator.once('exit', r));

    // --- raw baseline: the same objects, applied directly ------------------------
    const t1 = performance.now();
    await pool(names, CONCURRENCY, async (n) => {
      const name = `raw-${n}`;
      const ws: Workspace = {
        apiVersion: 'holdfast.io/v1alpha1',
        kind: 'Workspace',
        metadata: { name, uid: '00000000-0000-0000-0000-000000000000' },
        spec: WorkspaceSpec.parse({ volume: { storageClassName: 'bench' }, database: { resources: BENCH_DATABASE } }),
      };
      const strip = (o: KubeObject): KubeObject => ({ ...o, metadata: { ...o.metadata, ownerReferences: undefined } });
      for (const o of [
        desiredNamespace(ws),
        ...desiredNetworkPolicies(ws, { apiServer: [], cnpgNamespace: 'cnpg-system' }),
        desiredResourceQuota(ws),
        desiredLimitRange(ws),
        desiredDataClaim(ws, 'bench'),
        ...desiredDatabaseObjects(ws),
      ]) {
        await apply(strip(o), pathOf(o), 'bench-raw');
      }
    });
    const raw = performance.now() - t1;

    // --- raw baseline of certificate issuance: the same code, no operator ------
    const ca = await createCa({ commonName: 'bench', now: new Date(), durationMs: 365 * 86_400_000 });
    const t2 = performance.now();
    await pool(names, CONCURRENCY, async (n) => {
      await issueServerCertificate({ ca, dnsNames: [`db.ws-${n}.svc`], now: new Date(), durationMs: 90 * 86_400_000 });
    });
    const rawCerts = performance.now() - t2;

    const s = (ms: number) => (ms / 1000).toFixed(2);
    console.log(`workspaces                      ${COUNT} (operator concurrency ${CONCURRENCY})`);
    console.log(`created (API calls)             ${s(created)} s`);
    console.log(
      `all Ready after creation began  ${s(allReady)} s  (${(COUNT / (allReady / 1000)).toFixed(1)} workspaces/s)`,
    );
    console.log(`raw baseline, same objects      ${s(raw)} s  (direct server-side applies, no operator)`);
    console.log(`ratio operator / raw            ${(allReady / raw).toFixed(2)}`);
    console.log(`all CertificateReady            ${s(allCertified)} s`);
    console.log(
      `raw baseline, ${COUNT} certificates   ${s(rawCerts)} s  (RSA 2048 key + signature, same code, concurrency ${CONCURRENCY})`,
    );
    console.log(`ratio certificates / raw        ${(allCertified / rawCerts).toFixed(2)}`);
    console.log(`writes until all Ready          ${writesBefore}: ${byKind}`);
    console.log(`quiet period                    ${QUIET_S} s`);
    console.log(`operator API writes in quiet    ${writesAfter - writesBefore} (holdfast_api_writes_total)`);
    console.log(`managedFields stamped in quiet  ${stamped} (holdfast-operator entries newer than the quiet start)`);
  } finally {
    await run(script, ['stop', dir]);
    await rm(dir, { recursive: true, force: true });
  }
}

async function sharedBench(rest: Rest): Promise<void> {
  const pg = await startPostgres();
  try {
    const ns = 'holdfast-system';
    await rest.request('POST', collectionPath('Secret', ns), {
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'bench-admin' },
        data: { username: toBase64(pg.user), password: toBase64(pg.password) },
      },
    });
    await rest.request('POST', collectionPath('Secret', ns), {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bench-ca' }, data: { 'ca.crt': toBase64(pg.ca) } },
    });
    await rest.request('POST', collectionPath('SharedDatabaseServer'), {
      body: {
        apiVersion: 'holdfast.io/v1alpha1',
        kind: 'SharedDatabaseServer',
        metadata: { name: 'bench' },
        spec: {
          host: 'localhost',
          port: pg.port,
          caSecretRef: { name: 'bench-ca', namespace: ns },
          adminSecretRef: { name: 'bench-admin', namespace: ns },
        },
      },
    });
    const count = numberArg('count', 50);
    const names = Array.from({ length: count }, (_, i) => `shared-${String(i).padStart(3, '0')}`);
    const t0 = performance.now();
    await pool(names, CONCURRENCY, async (name) => {
      await rest.request('POST', collectionPath('Workspace'), {
        body: {
          apiVersion: 'holdfast.io/v1alpha1',
          kind: 'Workspace',
          metadata: { name },
          spec: { volume: { storageClassName: 'bench' }, database: { mode: 'Shared', serverRef: 'bench' } },
        },
      });
    });
    for (;;) {
      const list = await rest.get<{ items: Workspace[] }>(collectionPath('Workspace'));
      if (
        list.items.filter((w) => w.status?.conditions?.some((c) => c.type === 'DatabaseReady' && c.status === 'True'))
          .length === count
      )
        break;
      await sleep(100);
    }
    const operatorMs = performance.now() - t0;

    const sql = connect({
      host: 'localhost',
      port: pg.port,
      database: 'postgres',
      ca: pg.ca,
      username: pg.user,
      password: pg.password,
    });
    const t1 = performance.now();
    await pool(names, CONCURRENCY, async (n) => {
      const id = sharedIdentifier(`raw-${n}`);
      await provisionTenancy(
        sql,
        { role: id, database: id, password: generatePassword(), connectionLimit: -1 },
        { owner: { workspace: `raw-${n}`, uid: randomUUID() } },
      );
    });
    const rawMs = performance.now() - t1;
    await sql.end();
    console.log(`shared workspaces               ${count} on one PostgreSQL (operator concurrency ${CONCURRENCY})`);
    console.log(`all DatabaseReady               ${(operatorMs / 1000).toFixed(2)} s`);
    console.log(
      `raw baseline, same SQL          ${(rawMs / 1000).toFixed(2)} s  (role + database + revoke, direct, concurrency ${CONCURRENCY})`,
    );
    console.log(`ratio operator / raw            ${(operatorMs / rawMs).toFixed(2)}`);
  } finally {
    await pg.stop();
  }
}

await main();
