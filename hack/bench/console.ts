// Benchmark: latency of the console's pages under a short loopback load,
// with 1,000 tenants whose Workspaces are in a real apiserver and 10,000
// Backups in their namespaces, on embedded PGlite and on PostgreSQL. As the
// raw baseline in the same run, a bare node:http server answers the same
// bytes with the same load.
//
//   npm run build:app && npx tsx hack/bench/console.ts [--tenants 1000] [--backups 10000]
//     [--requests 1000] [--concurrency 8] [--database pglite|postgres|both] [--only <page label part>]
//
// Starts its own control plane (hack/control-plane.sh; no node) and a
// PostgreSQL server; the console runs in this process as `holdfast console`
// builds it: the built Remix UI, every security hook on, its Workspace watch
// on the control plane. The load comes from a worker thread.
import './production-env.js';
import { createServer, type Server } from 'node:http';
import { Worker } from 'node:worker_threads';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { bootstrapAdmin } from '../../console/bootstrap.js';
import { openDatabase, type OpenedDb } from '../../console/db/client.js';
import { assembleConsole, loadRemixBuild } from '../../console/main.js';
import { SecretBox } from '../../console/secret-box.js';
import { DEFAULT_SETTINGS } from '../../console/services.js';
import { WorkspaceApi } from '../../console/workspaces.js';
import { collectionPath, objectPath, MERGE_PATCH, type Rest } from '../../kube/rest.js';
import { startOwnControlPlane } from '../../test/harness/own-control-plane.js';
import { freshPostgresDatabase, stopConsolePostgres } from '../../test/harness/console.js';
import { numberArg } from './args.js';

const REQUESTS = numberArg('requests', 1000);
const CONCURRENCY = numberArg('concurrency', 8);
const TENANTS = numberArg('tenants', 1000);
const BACKUPS = numberArg('backups', 10_000);
const DATABASES = (() => {
  const i = process.argv.indexOf('--database');
  const v = i > 0 ? process.argv[i + 1] : 'both';
  return v === 'both' ? (['pglite', 'postgres'] as const) : ([v as 'pglite' | 'postgres'] as const);
})();
const ONLY = (() => {
  const i = process.argv.indexOf('--only');
  return i > 0 ? process.argv[i + 1]! : '';
})();
const CLIENT = { ip: '127.0.0.1', userAgent: 'holdfast-bench' };

interface Result {
  p50: number;
  p99: number;
  mean: number;
  rps: number;
  bytes: number;
}

// The load runs on a thread of its own, as a browser would be a process of
// its own: the console's event loop does only the console's work.
const LOAD = `
const { parentPort, workerData } = require('node:worker_threads');
const { request, Agent } = require('node:http');
const { url, headers, requests, concurrency } = workerData;
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
const times = [];
let bytes = 0;
let next = 0;
const one = () => new Promise((resolve, reject) => {
  const start = process.hrtime.bigint();
  request(url, { agent, headers }, (res) => {
    let n = 0;
    res.on('data', (c) => (n += c.length));
    res.on('end', () => {
      if (res.statusCode !== 200) return reject(new Error(url + ': HTTP ' + res.statusCode));
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
      bytes = n;
      resolve();
    });
  }).on('error', reject).end();
});
(async () => {
  for (let i = 0; i < 50; i++) await one();
  times.length = 0;
  const began = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => { while (next++ < requests) await one(); }));
  const seconds = (performance.now() - began) / 1000;
  agent.destroy();
  parentPort.postMessage({ times, bytes, seconds });
})().catch((err) => parentPort.postMessage({ error: String(err) }));
`;

/** REQUESTS GETs of `url` over CONCURRENCY keep-alive connections (after 50 to warm up); latency of each. */
async function load(url: string, headers: Record<string, string>): Promise<Result> {
  const worker = new Worker(LOAD, {
    eval: true,
    workerData: { url, headers, requests: REQUESTS, concurrency: CONCURRENCY },
  });
  const out = await new Promise<{ times: number[]; bytes: number; seconds: number; error?: string }>(
    (resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    },
  );
  await worker.terminate();
  if (out.error) throw new Error(out.error);
  const times = out.times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  return {
    p50: at(0.5),
    p99: at(0.99),
    mean: times.reduce((a, b) => a + b, 0) / times.length,
    rps: times.length / out.seconds,
    bytes: out.bytes,
  };
}

/** The same bytes from a bare server: what serving the page costs without the console's work. */
async function rawServer(body: Buffer): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${address.port}/` };
}

async function fetchBody(url: string, headers: Record<string, string>): Promise<Buffer> {
  const res = await fetch(url, { headers, redirect: 'manual' });
  if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const name = (i: number) => `tenant-${String(i).padStart(4, '0')}`;
const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');

/** TENANTS Workspaces reporting health, their namespaces, and BACKUPS Backups spread over them. */
async function seedCluster(rest: Rest): Promise<void> {
  const started = performance.now();
  const indexes = Array.from({ length: TENANTS }, (_, i) => i);
  await pool(indexes, 8, async (i) => {
    const ws = name(i);
    await rest.request('POST', collectionPath('Workspace'), {
      body: {
        apiVersion: 'holdfast.io/v1alpha1',
        kind: 'Workspace',
        metadata: { name: ws },
        spec: { tenant: ws, displayName: `Tenant ${i}` },
      },
    });
    await rest.request('POST', collectionPath('Namespace'), {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ws-${ws}` } },
    });
    const ready = i % 50 !== 7;
    await rest.request('PATCH', `${objectPath('Workspace', ws)}/status`, {
      contentType: MERGE_PATCH,
      body: {
        status: {
          phase: ready ? 'Ready' : 'Degraded',
          namespace: `ws-${ws}`,
          conditions: [
            {
              type: 'Ready',
              status: ready ? 'True' : 'False',
              reason: ready ? 'Provisioned' : 'DatabaseNotReady',
              message: ready ? 'all parts are ready' : 'the database pod is not ready',
              lastTransitionTime: hoursAgo(200),
            },
          ],
          lastBackupTime: hoursAgo(i % 40),
          lastVerifiedTime: hoursAgo(24 + (i % 100)),
          recoveryPoint: hoursAgo(i % 40),
          certificate: { secretName: 'tls', notAfter: hoursAgo(-24 * (5 + (i % 90))) },
        },
      },
    });
  });
  const perTenant = Math.ceil(BACKUPS / TENANTS);
  const backups = Array.from({ length: BACKUPS }, (_, j) => j);
  await pool(backups, 8, async (j) => {
    const ws = name(j % TENANTS);
    const k = Math.floor(j / TENANTS);
    const backup = `${ws}-${String(k).padStart(3, '0')}`;
    const namespace = `ws-${ws}`;
    await rest.request('POST', collectionPath('Backup', namespace), {
      body: {
        apiVersion: 'holdfast.io/v1alpha1',
        kind: 'Backup',
        metadata: { name: backup, namespace },
        spec: { workspace: ws },
      },
    });
    await rest.request('PATCH', `${objectPath('Backup', backup, namespace)}/status`, {
      contentType: MERGE_PATCH,
      body: {
        status: {
          phase: 'Succeeded',
          startedAt: hoursAgo(24 * (perTenant - k)),
          completedAt: hoursAgo(24 * (perTenant - k) - 0.1),
          size: 50_000_000 + k * 1_000_000,
        },
      },
    });
  });
  console.log(
    `cluster: ${TENANTS} Workspaces with status and namespaces, ${BACKUPS} Backups, written in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

const plane = await startOwnControlPlane('bench-console');
const summary: string[] = [];
try {
  await seedCluster(plane.rest);
  const remix = await loadRemixBuild();
  for (const kind of DATABASES) {
    let database: OpenedDb;
    let cleanup: () => Promise<void>;
    if (kind === 'postgres') {
      const fresh = await freshPostgresDatabase(false);
      database = await openDatabase({ url: fresh.url });
      cleanup = fresh.drop;
    } else {
      const dataDir = await mkdtemp(path.join(tmpdir(), 'holdfast-bench-console-'));
      database = await openDatabase({ dataDir });
      cleanup = () => rm(dataDir, { recursive: true, force: true });
    }
    const workspaces = new WorkspaceApi(plane.kc, pino({ level: 'warn' }, pino.destination(2)));
    const { app, services } = await assembleConsole({
      database,
      settings: { ...DEFAULT_SETTINGS, secureCookies: false },
      secrets: SecretBox.parse(SecretBox.generateKey()),
      log: pino({ level: 'warn' }, pino.destination(2)),
      workspaces,
      remix,
    });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });

    // A platform administrator, and a tenant for each Workspace.
    const boot = await bootstrapAdmin(database.db, 'admin@holdfast.bench');
    const first = await services.signIn.password(boot.email, boot.oneTimePassword!, CLIENT);
    if (!first.ok) throw new Error(first.message);
    const pending = (await services.sessions.resolve(first.token))!;
    const active = await services.signIn.changePassword(
      pending.user,
      undefined,
      'Bench-Password-2026',
      CLIENT,
      first.token,
    );
    if (!active.ok) throw new Error(active.message);
    const viewer = {
      id: pending.user.id,
      email: pending.user.email,
      name: '',
      role: 'platform-admin' as const,
      tenantId: null,
    };
    const seeded = performance.now();
    for (let i = 0; i < TENANTS; i++)
      await services.tenants.create(viewer, { id: name(i), displayName: `Tenant ${i}` }, CLIENT);
    const session = { cookie: `holdfast-session=${active.token}` };
    const tenant = name(Math.floor(TENANTS / 2));
    const pages: [string, string, Record<string, string>][] = [
      ['sign-in page (GET /login)', `${base}/login`, { cookie: 'holdfast-csrf=bench-anonymous-cookie-0123456789' }],
      [`overview (GET /, ${TENANTS} tenants)`, `${base}/`, session],
      ['overview sorted by status, needs attention only', `${base}/?sort=status&problems=on`, session],
      [
        `a tenant's page (GET /tenants/${tenant}, ${Math.ceil(BACKUPS / TENANTS)} Backups)`,
        `${base}/tenants/${tenant}`,
        session,
      ],
      [`a tenant's backup log (GET /tenants/${tenant}/backups)`, `${base}/tenants/${tenant}/backups`, session],
    ];
    console.log(
      `\nconsole on ${database.kind}: ${TENANTS} tenants made in ${((performance.now() - seeded) / 1000).toFixed(1)} s; ` +
        `${REQUESTS} requests per page, ${CONCURRENCY} concurrent keep-alive connections, loopback\n`,
    );
    let overviewP99: number | undefined;
    for (const [label, url, headers] of pages.filter(([label]) => label.includes(ONLY))) {
      const body = await fetchBody(url, headers);
      const raw = await rawServer(body);
      const consoleResult = await load(url, headers);
      const rawResult = await load(raw.url, {});
      raw.server.close();
      if (url === `${base}/`) overviewP99 = consoleResult.p99;
      const f = (n: number) => n.toFixed(2).padStart(7);
      console.log(`${label}: ${body.length} bytes`);
      console.log(
        `  console   p50 ${f(consoleResult.p50)} ms  p99 ${f(consoleResult.p99)} ms  mean ${f(consoleResult.mean)} ms  ${consoleResult.rps.toFixed(0)} req/s`,
      );
      console.log(
        `  raw       p50 ${f(rawResult.p50)} ms  p99 ${f(rawResult.p99)} ms  mean ${f(rawResult.mean)} ms  ${rawResult.rps.toFixed(0)} req/s`,
      );
      console.log(
        `  ratio     p50 ${(consoleResult.p50 / rawResult.p50).toFixed(1)}x  p99 ${(consoleResult.p99 / rawResult.p99).toFixed(1)}x  throughput ${(rawResult.rps / consoleResult.rps).toFixed(1)}x\n`,
      );
    }
    console.log(
      `console RSS ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB (this process: console, load and baseline)`,
    );
    if (overviewP99 !== undefined)
      summary.push(
        `overview p99 ${overviewP99.toFixed(1)} ms at ${TENANTS} tenants (${kind === 'pglite' ? 'PGlite' : 'PostgreSQL'})`,
      );
    await app.close();
    await database.close();
    await cleanup();
  }
} finally {
  await stopConsolePostgres();
  await plane.stop();
}
console.log('');
for (const line of summary) console.log(line);
