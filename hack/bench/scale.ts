// Benchmark: the operator at scale. N Shared workspaces (databases real, on
// the harness PostgreSQL) from creation to Ready; in the same run, the floor:
// the same objects written straight to the apiserver, the same SQL and the
// same certificates, with no operator. Then the operator at rest, the time a
// spec change takes (one workspace while the rest idle, one while N are being
// created, all N at once), and failover to a standby after SIGKILL.
//
//   npm run build   (the operator runs from dist/, as in its image)
//   npx tsx hack/bench/scale.ts [--count 1000] [--quiet-seconds 600] [--concurrency 10]
//
// Starts its own control plane (no node: a Shared workspace needs no pod,
// and its volume class binds on first use) and PostgreSQL; stops both.
import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { Workspace } from '../../operator/api/workspace.js';
import { Informer } from '../../kube/informer.js';
import { collectionPath, objectPath, type Kind, type KubeObject, type Rest } from '../../kube/rest.js';
import { freePort, startPostgres, type TestPostgres } from '../../test/harness/postgres.js';
import { startOwnControlPlane } from '../../test/harness/own-control-plane.js';
import { connect, generatePassword, provisionTenancy, sharedIdentifier } from '../../operator/database/shared.js';
import { createCa, issueServerCertificate } from '../../operator/tls/x509.js';
import { toBase64 } from '../../kube/secret-data.js';
import { numberArg } from './args.js';

const root = path.resolve(import.meta.dirname, '../..');
const COUNT = numberArg('count', 1000);
const QUIET_S = numberArg('quiet-seconds', 600);
const CONCURRENCY = numberArg('concurrency', 10);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const log = pino({ level: 'silent' });

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Resolves when `check` is true, looking every `everyMs`; the time it took. */
async function until(check: () => boolean | Promise<boolean>, everyMs = 20, timeoutMs = 3_600_000): Promise<number> {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`not reached in ${timeoutMs / 1000} s`);
    await sleep(everyMs);
  }
  return performance.now() - t0;
}

const isTrue = (ws: Workspace | undefined, type: string) =>
  ws?.status?.conditions?.some((c) => c.type === type && c.status === 'True') ?? false;

interface OperatorProcess {
  child: ChildProcess;
  port: number;
  metrics(): Promise<Map<string, number>>;
}

async function startOperator(kubeconfig: string): Promise<OperatorProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(root, 'dist/cli/main.js'), 'operator'], {
    env: {
      ...process.env,
      KUBECONFIG: kubeconfig,
      HOLDFAST_HEALTH_ADDRESS: `127.0.0.1:${port}`,
      HOLDFAST_LOG_LEVEL: 'warn',
      HOLDFAST_CONCURRENCY: String(CONCURRENCY),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return {
    child,
    port,
    async metrics() {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const out = new Map<string, number>();
      for (const line of text.split('\n')) {
        if (line.startsWith('#') || !line.trim()) continue;
        const i = line.lastIndexOf(' ');
        out.set(line.slice(0, i), Number(line.slice(i + 1)));
      }
      return out;
    },
  };
}

/** The sum of every series of `name` (any labels), or of those whose labels include each of `having`. */
function total(m: Map<string, number>, name: string, ...having: string[]): number {
  let n = 0;
  for (const [k, v] of m) if ((k === name || k.startsWith(`${name}{`)) && having.every((h) => k.includes(h))) n += v;
  return n;
}

/**
 * The operator's writes: every request but reads, Events (counted apart) and
 * the leader's Lease renewals (counted apart).
 */
function writes(m: Map<string, number>): number {
  const all = (...having: string[]) => total(m, 'holdfast_api_requests_total', ...having);
  return (
    all() -
    all('method="GET"') -
    all('resource="events"') -
    all('resource="leases"') +
    all('method="GET"', 'resource="leases"')
  );
}

async function main(): Promise<void> {
  if (!existsSync(path.join(root, 'dist/cli/main.js'))) throw new Error('run `npm run build` first');
  const plane = await startOwnControlPlane('scale');
  const { kc, kubeconfig, rest } = plane;
  const pg = await startPostgres();
  const operators: OperatorProcess[] = [];
  try {
    await plane.sharedServer(pg, 'bench');
    const workspaces = new Informer<Workspace & KubeObject>(kc, { kind: 'Workspace' }, log);
    const quotas = new Informer<KubeObject>(kc, { kind: 'ResourceQuota', labelSelector: 'holdfast.io/workspace' }, log);
    await workspaces.start();
    await quotas.start();
    const quotaCpu = (name: string) =>
      (quotas.get('workspace', `ws-${name}`)?.spec as { hard?: Record<string, string> } | undefined)?.hard?.[
        'requests.cpu'
      ];

    const a = await startOperator(kubeconfig);
    operators.push(a);
    await until(async () => (await a.metrics().catch(() => new Map<string, number>())).get('holdfast_leader') === 1);

    // A workspace that exists before the burst: it is edited while N are created.
    const create = (name: string) =>
      rest.request('POST', collectionPath('Workspace'), {
        body: {
          apiVersion: 'holdfast.io/v1alpha1',
          kind: 'Workspace',
          metadata: { name },
          spec: { volume: { storageClassName: 'bench' }, database: { mode: 'Shared', serverRef: 'bench' } },
        },
      });
    const setCpu = (name: string, cpu: string) =>
      rest.request('PATCH', objectPath('Workspace', name), {
        body: { spec: { quota: { cpu } } },
        contentType: 'application/merge-patch+json',
      });
    await create('probe');
    await until(() => isTrue(workspaces.get('probe'), 'Ready'));

    // --- convergence ------------------------------------------------------------
    const names = Array.from({ length: COUNT }, (_, i) => `s-${String(i).padStart(4, '0')}`);
    const before = await a.metrics();
    const t0 = performance.now();
    const readyAt = new Map<string, number>();
    const wanted = new Set(names);
    workspaces.onChange((ws) => {
      const n = ws.metadata.name;
      if (wanted.has(n) && !readyAt.has(n) && isTrue(ws, 'Ready')) readyAt.set(n, performance.now() - t0);
    });
    const creating = pool(names, CONCURRENCY, (n) => create(n).then(() => undefined));
    await sleep(2000);
    const tEdit = performance.now();
    await setCpu('probe', '3');
    await until(() => quotaCpu('probe') === '3');
    const editWhileCreating = performance.now() - tEdit;
    await creating;
    const created = performance.now() - t0;
    await until(() => names.every((n) => isTrue(workspaces.get(n), 'Ready')), 200);
    const converged = performance.now() - t0;
    const after = await a.metrics();
    const operatorCpu =
      (after.get('holdfast_operator_process_cpu_seconds_total') ?? 0) -
      (before.get('holdfast_operator_process_cpu_seconds_total') ?? 0);
    const readyTimes = [...readyAt.values()].sort((x, y) => x - y);
    const readyQuantile = (q: number) =>
      s(readyTimes[Math.min(readyTimes.length - 1, Math.ceil(q * readyTimes.length) - 1)]!);
    const convergenceWrites = writes(after) - writes(before);
    const convergenceEvents =
      total(after, 'holdfast_api_writes_total', 'kind="Event"') -
      total(before, 'holdfast_api_writes_total', 'kind="Event"');
    const convergenceReads =
      total(after, 'holdfast_api_requests_total', 'method="GET"') -
      total(before, 'holdfast_api_requests_total', 'method="GET"');

    // --- at rest ------------------------------------------------------------------
    await sleep(5000);
    const q0 = await a.metrics();
    const cpu0 = q0.get('holdfast_operator_process_cpu_seconds_total') ?? 0;
    // Resident memory every 10 s: the highest, and when, besides the last.
    const rssPeak = { bytes: 0, at: 0 };
    const quietStart = performance.now();
    const quietEnd = performance.now() + QUIET_S * 1000;
    while (performance.now() < quietEnd) {
      const rss = (await a.metrics()).get('holdfast_operator_process_resident_memory_bytes') ?? 0;
      if (rss > rssPeak.bytes) Object.assign(rssPeak, { bytes: rss, at: performance.now() - quietStart });
      await sleep(Math.min(10_000, Math.max(0, quietEnd - performance.now())));
    }
    const q1 = await a.metrics();
    const quiet = {
      writes: writes(q1) - writes(q0),
      events:
        total(q1, 'holdfast_api_writes_total', 'kind="Event"') - total(q0, 'holdfast_api_writes_total', 'kind="Event"'),
      reads:
        total(q1, 'holdfast_api_requests_total', 'method="GET"') -
        total(q0, 'holdfast_api_requests_total', 'method="GET"'),
      watches: total(q1, 'holdfast_api_watches_total') - total(q0, 'holdfast_api_watches_total'),
      leases:
        total(q1, 'holdfast_api_requests_total', 'resource="leases"') -
        total(q0, 'holdfast_api_requests_total', 'resource="leases"'),
      cpu: ((q1.get('holdfast_operator_process_cpu_seconds_total') ?? 0) - cpu0) / QUIET_S,
      rss: q1.get('holdfast_operator_process_resident_memory_bytes') ?? 0,
      heap: q1.get('holdfast_operator_nodejs_heap_size_used_bytes') ?? 0,
      heapTotal: q1.get('holdfast_operator_nodejs_heap_size_total_bytes') ?? 0,
      external: q1.get('holdfast_operator_nodejs_external_memory_bytes') ?? 0,
    };

    // --- changes ----------------------------------------------------------------------
    const one = names[Math.floor(COUNT / 2)]!;
    const tOne = performance.now();
    await setCpu(one, '3');
    await until(() => quotaCpu(one) === '3', 5);
    const editIdle = performance.now() - tOne;
    const tAll = performance.now();
    await pool(names, CONCURRENCY, (n) => setCpu(n, '2').then(() => undefined));
    const allPatched = performance.now() - tAll;
    await until(() => names.every((n) => quotaCpu(n) === '2'), 100);
    const editAll = performance.now() - tAll;

    // --- failover ---------------------------------------------------------------------
    const b = await startOperator(kubeconfig);
    operators.push(b);
    await until(async () => (await b.metrics().catch(() => undefined)) !== undefined, 100);
    await sleep(3000); // b stands by, watching the Lease
    const tKill = performance.now();
    a.child.kill('SIGKILL');
    await setCpu(one, '1');
    await until(() => quotaCpu(one) === '1', 20, 120_000);
    const failover = performance.now() - tKill;
    b.child.kill('SIGTERM');
    await new Promise((r) => b.child.once('exit', r));
    await workspaces.stop();
    await quotas.stop();

    // --- the floor: the same objects, SQL and certificates, with no operator ----------
    const floor = await writeFloor(rest, pg, names);

    const cores = cpus().length;
    console.log(`machine                             ${cores} cores, ${new Date().toISOString().slice(0, 10)}`);
    console.log(`workspaces                          ${COUNT} Shared (operator concurrency ${CONCURRENCY})`);
    console.log(`created (API calls)                 ${s(created)}`);
    console.log(`all Ready                           ${s(converged)}  (${(COUNT / (converged / 1000)).toFixed(1)}/s)`);
    console.log(
      `floor: same objects, SQL, certs     ${s(floor.total)}  (time summed over ${CONCURRENCY} clients: API ${s(floor.objects)}, SQL ${s(floor.sql)}, certificates ${s(floor.certificates)})`,
    );
    console.log(
      `Ready after                         half ${readyQuantile(0.5)}, 90 % ${readyQuantile(0.9)}, 99 % ${readyQuantile(0.99)}; operator CPU ${operatorCpu.toFixed(1)} s (${(((operatorCpu * 1000) / converged) * 100).toFixed(0)} % of a core)`,
    );
    console.log(`ratio operator / floor              ${(converged / floor.total).toFixed(2)}`);
    console.log(
      `operator writes until Ready         ${convergenceWrites + convergenceEvents} (${((convergenceWrites + convergenceEvents) / COUNT).toFixed(1)} per workspace; ${convergenceEvents} Events); floor ${floor.writes} (${(floor.writes / COUNT).toFixed(1)} per workspace)`,
    );
    console.log(`operator reads until Ready          ${convergenceReads} GETs`);
    console.log(`quiet period                        ${QUIET_S} s`);
    console.log(
      `writes at rest                      ${quiet.writes + quiet.events} (${(((quiet.writes + quiet.events) / QUIET_S) * 60).toFixed(2)}/min; ${quiet.events} Events)`,
    );
    console.log(
      `reads at rest                       ${quiet.reads} GETs, ${quiet.watches} watches (re)started (${((quiet.watches / QUIET_S) * 60).toFixed(2)}/min)`,
    );
    console.log(
      `Lease requests at rest              ${quiet.leases} (${((quiet.leases / QUIET_S) * 60).toFixed(2)}/min: leader election, one renewal every 2 s)`,
    );
    console.log(
      `operator at rest                    RSS ${(quiet.rss / 2 ** 20).toFixed(0)} MB at the end (highest ${(rssPeak.bytes / 2 ** 20).toFixed(0)} MB, ${s(rssPeak.at)} into the quiet period; heap ${(quiet.heap / 2 ** 20).toFixed(0)} MB used of ${(quiet.heapTotal / 2 ** 20).toFixed(0)} MB, external ${(quiet.external / 2 ** 20).toFixed(0)} MB), CPU ${(quiet.cpu * 100).toFixed(2)} % of a core`,
    );
    console.log(`edit one, ${COUNT - 1} idle              ${s(editIdle)}`);
    console.log(`edit one while ${COUNT} are created   ${s(editWhileCreating)}`);
    console.log(`edit all ${COUNT}                      ${s(editAll)}  (patches sent in ${s(allPatched)})`);
    console.log(`failover after SIGKILL              ${s(failover)}  (standby applies an edit made at the kill)`);
  } finally {
    for (const o of operators) o.child.kill('SIGKILL');
    await pg.stop();
    await plane.stop();
  }
}

/** Kinds the operator writes into a Shared workspace's namespace. */
const NAMESPACED: Kind[] = ['NetworkPolicy', 'ResourceQuota', 'LimitRange', 'PersistentVolumeClaim', 'Secret'];

/**
 * The floor: for each workspace, its namespace and every object the operator
 * put in it (read back, stripped to what a client sends), created in a new
 * namespace; the same tenancy SQL; the same certificate code.
 */
async function writeFloor(
  rest: Rest,
  pg: TestPostgres,
  names: string[],
): Promise<{ total: number; objects: number; sql: number; certificates: number; writes: number }> {
  const templates = new Map<string, KubeObject[]>();
  for (const kind of NAMESPACED) {
    const list = await rest.get<{ items: KubeObject[] }>(collectionPath(kind), {
      labelSelector: 'holdfast.io/workspace',
    });
    for (const o of list.items) {
      const ns = o.metadata.namespace!;
      templates.set(ns, [...(templates.get(ns) ?? []), { ...o, kind }]);
    }
  }
  const namespaces = await rest.get<{ items: KubeObject[] }>(collectionPath('Namespace'), {
    labelSelector: 'holdfast.io/workspace',
  });
  const bare = (o: KubeObject, namespace?: string): KubeObject => {
    const { metadata, status: _status, ...rest } = o as KubeObject & { status?: unknown };
    const spec = (rest as { spec?: Record<string, unknown> }).spec;
    return {
      ...rest,
      ...(spec ? { spec: Object.fromEntries(Object.entries(spec).filter(([k]) => k !== 'volumeName')) } : {}),
      metadata: {
        name: metadata.name,
        ...(namespace ? { namespace } : {}),
        labels: metadata.labels,
        annotations: Object.fromEntries(
          Object.entries(metadata.annotations ?? {}).filter(([k]) => !k.startsWith('kubectl.kubernetes.io')),
        ),
      },
    };
  };
  const sql = connect({
    host: 'localhost',
    port: pg.port,
    database: 'postgres',
    ca: pg.ca,
    username: pg.user,
    password: pg.password,
  });
  const ca = await createCa({ commonName: 'bench', now: new Date(), durationMs: 365 * 86_400_000 });
  const spent = { objects: 0, sql: 0, certificates: 0 };
  const timed = async <T>(part: keyof typeof spent, work: Promise<T>): Promise<T> => {
    const t = performance.now();
    const result = await work;
    spent[part] += performance.now() - t;
    return result;
  };
  let writes = 0;
  const t0 = performance.now();
  await pool(names, CONCURRENCY, async (n) => {
    const source = namespaces.items.find((ns) => ns.metadata.name === `ws-${n}`)!;
    const target = `raw-${n}`;
    await timed(
      'objects',
      rest.request('POST', collectionPath('Namespace'), {
        body: { ...bare(source), metadata: { ...bare(source).metadata, name: target } },
      }),
    );
    const id = sharedIdentifier(target);
    await timed(
      'sql',
      provisionTenancy(
        sql,
        { role: id, database: id, password: generatePassword(), connectionLimit: -1 },
        { owner: { workspace: target, uid: randomUUID() } },
      ),
    );
    const pair = await timed(
      'certificates',
      issueServerCertificate({ ca, dnsNames: [`db.${target}.svc`], now: new Date(), durationMs: 90 * 86_400_000 }),
    );
    for (const o of templates.get(`ws-${n}`) ?? []) {
      const body = bare(o, target);
      // The certificate Secret carries the one just issued.
      if (o.kind === 'Secret' && (o as { type?: string }).type === 'kubernetes.io/tls')
        Object.assign((body as unknown as { data: Record<string, string> }).data, {
          'tls.crt': toBase64(pair.certPem),
          'tls.key': toBase64(pair.keyPem),
        });
      await timed('objects', rest.request('POST', collectionPath(o.kind as Kind, target), { body }));
    }
    writes += 1 + (templates.get(`ws-${n}`)?.length ?? 0);
  });
  const totalMs = performance.now() - t0;
  await sql.end();
  return { total: totalMs, ...spent, writes };
}

await main();
