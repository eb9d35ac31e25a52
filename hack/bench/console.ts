// Benchmark: latency of the console's sign-in page and dashboard under a
// short loopback load, and, as the raw baseline in the same run, a bare
// node:http server answering the same bytes with the same load.
//
//   npm run build:app && npx tsx hack/bench/console.ts [--requests 2000] [--concurrency 8] [--tenants 50]
//
// The console runs in this process as `holdfast console` builds it: embedded
// PGlite (or DATABASE_URL), the built Remix UI, every security hook on.
import { createServer, request, Agent, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { bootstrapAdmin } from '../../console/bootstrap.js';
import { openDatabase } from '../../console/db/client.js';
import { assembleConsole, loadRemixBuild } from '../../console/main.js';
import { SecretBox } from '../../console/secret-box.js';
import { DEFAULT_SETTINGS } from '../../console/services.js';
import { numberArg } from './args.js';

const REQUESTS = numberArg('requests', 2000);
const CONCURRENCY = numberArg('concurrency', 8);
const TENANTS = numberArg('tenants', 50);
const CLIENT = { ip: '127.0.0.1', userAgent: 'holdfast-bench' };

interface Result {
  p50: number;
  p99: number;
  mean: number;
  rps: number;
  bytes: number;
}

/** REQUESTS GETs of `url` over CONCURRENCY keep-alive connections; latency of each. */
async function load(url: string, headers: Record<string, string>): Promise<Result> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const times: number[] = [];
  let bytes = 0;
  let next = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const start = process.hrtime.bigint();
      request(url, { agent, headers }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`${url}: HTTP ${res.statusCode}`));
          times.push(Number(process.hrtime.bigint() - start) / 1e6);
          bytes = n;
          resolve();
        });
      })
        .on('error', reject)
        .end();
    });
  // Warm-up: JIT, connection set-up, caches.
  for (let i = 0; i < 50; i++) await one();
  times.length = 0;
  const began = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < REQUESTS) await one();
    }),
  );
  const seconds = (performance.now() - began) / 1000;
  agent.destroy();
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  return {
    p50: at(0.5),
    p99: at(0.99),
    mean: times.reduce((a, b) => a + b, 0) / times.length,
    rps: times.length / seconds,
    bytes,
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

// As `holdfast console` runs: React's production build.
process.env.NODE_ENV ??= 'production';
const dataDir = await mkdtemp(path.join(tmpdir(), 'holdfast-bench-console-'));
const database = await openDatabase(process.env.DATABASE_URL ? { url: process.env.DATABASE_URL } : { dataDir });
const { app, services } = await assembleConsole({
  database,
  settings: { ...DEFAULT_SETTINGS, secureCookies: false },
  secrets: SecretBox.parse(SecretBox.generateKey()),
  log: pino({ level: 'silent' }),
  remix: await loadRemixBuild(),
});
const base = await app.listen({ host: '127.0.0.1', port: 0 });

// A platform administrator with a dashboard of TENANTS tenants.
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
for (let i = 0; i < TENANTS; i++) {
  await services.tenants.create(
    viewer,
    { id: `tenant-${String(i).padStart(3, '0')}`, displayName: `Tenant ${i}` },
    CLIENT,
  );
}
const session = { cookie: `holdfast-session=${active.token}` };

const pages: [string, string, Record<string, string>][] = [
  ['sign-in page (GET /login)', `${base}/login`, { cookie: 'holdfast-csrf=bench-anonymous-cookie-0123456789' }],
  [`dashboard (GET /, ${TENANTS} tenants, signed in)`, `${base}/`, session],
];
console.log(
  `console on ${database.kind}; ${REQUESTS} requests per page, ${CONCURRENCY} concurrent keep-alive connections, loopback\n`,
);
for (const [name, url, headers] of pages) {
  const body = await fetchBody(url, headers);
  const raw = await rawServer(body);
  const consoleResult = await load(url, headers);
  const rawResult = await load(raw.url, {});
  raw.server.close();
  const f = (n: number) => n.toFixed(2).padStart(7);
  console.log(`${name}: ${body.length} bytes`);
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
await app.close();
await database.close();
await rm(dataDir, { recursive: true, force: true });
