// A real PostgreSQL server (Debian's postgresql package) for one test suite:
// initdb into a temp dir, loopback only, TLS on with a certificate from a
// per-server CA, TCP connections refused unless they use TLS.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import type { DatabaseTarget } from '../../operator/backup/database.js';

const run = promisify(execFile);

export interface TestPostgres {
  host: string;
  port: number;
  /** Superuser name; authenticates with `password` over TLS only. */
  user: string;
  password: string;
  /** PEM of the CA that signed the server certificate (SANs 127.0.0.1, localhost). */
  ca: string;
  dir: string;
  /** `postgres://user:password@127.0.0.1:port/postgres?sslmode=verify-full` */
  url: string;
  /** Replaces the server certificate and key and reloads the configuration. */
  useCertificate(certPem: string, keyPem: string): Promise<void>;
  stop(): Promise<void>;
}

/** The newest installed PostgreSQL's bin directory. */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(path.join(root, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (newest === undefined) {
    throw new Error(
      'PostgreSQL server binaries not found under /usr/lib/postgresql; run hack/test (it installs postgresql)',
    );
  }
  return path.join(root, newest, 'bin');
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  await new Promise((ok) => server.close(ok));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

// PostgreSQL refuses to run as root; as root, the server runs as the
// `postgres` system user that Debian's package creates. Spawned with that
// uid directly (not through runuser) so signals reach the server itself.
const asRoot = userInfo().uid === 0;
let serverUser: { uid: number; gid: number } | undefined;
async function serverUserIds(): Promise<{ uid?: number; gid?: number }> {
  if (!asRoot) return {};
  if (!serverUser) {
    const { stdout: uid } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    serverUser = { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  }
  return serverUser;
}
async function runAsServerUser(cmd: string, args: string[]): Promise<void> {
  await run(cmd, args, { ...(await serverUserIds()), cwd: '/' });
}
async function spawnAsServerUser(cmd: string, args: string[]): Promise<ChildProcess> {
  return spawn(cmd, args, { ...(await serverUserIds()), cwd: '/', stdio: ['ignore', 'ignore', 'pipe'] });
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await run('openssl', args, { cwd });
}

export interface PostgresOptions {
  /**
   * Another address to listen on and name in the certificate, such as the
   * node's, for pods to reach the server as a database outside the cluster.
   */
  address?: string;
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<TestPostgres> {
  const bin = postgresBinDir();
  const dir = await mkdtemp(path.join(tmpdir(), 'holdfast-pg-'));
  const data = path.join(dir, 'data');
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const user = 'holdfast_admin';

  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=holdfast-test-pg-ca',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
    ],
    dir,
  );
  await openssl(
    ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr'],
    dir,
  );
  await writeFile(
    path.join(dir, 'san.ext'),
    `subjectAltName=IP:127.0.0.1,DNS:localhost${opts.address ? `,IP:${opts.address}` : ''}\n`,
  );
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      'san.ext',
      '-out',
      'server.crt',
    ],
    dir,
  );
  await writeFile(path.join(dir, 'pwfile'), `${password}\n`);

  if (asRoot) {
    await run('chown', ['-R', 'postgres:postgres', dir]);
  }
  await chmod(dir, 0o700);
  await chmod(path.join(dir, 'server.key'), 0o600);

  await runAsServerUser(path.join(bin, 'initdb'), [
    '-D',
    data,
    '--no-sync',
    '-U',
    user,
    '--pwfile',
    path.join(dir, 'pwfile'),
    '--auth-local',
    'trust',
    '--auth-host',
    'scram-sha-256',
    '-E',
    'UTF8',
    '--locale',
    'C.UTF-8',
  ]);
  // TCP only with TLS: a plain connection finds no matching hba line.
  await writeFile(
    path.join(data, 'pg_hba.conf'),
    [
      'local all all trust',
      'hostssl all all 127.0.0.1/32 scram-sha-256',
      'hostssl all all ::1/128 scram-sha-256',
      // Pods, from the node's pod network.
      ...(opts.address ? ['hostssl all all 0.0.0.0/0 scram-sha-256'] : []),
      '',
    ].join('\n'),
  );
  if (asRoot) await run('chown', ['postgres:postgres', path.join(data, 'pg_hba.conf')]);

  const port = await freePort();
  const proc = await spawnAsServerUser(path.join(bin, 'postgres'), [
    '-D',
    data,
    '-p',
    String(port),
    '-k',
    dir,
    '-c',
    `listen_addresses=127.0.0.1${opts.address ? `,${opts.address}` : ''}`,
    '-c',
    'ssl=on',
    '-c',
    `ssl_cert_file=${path.join(dir, 'server.crt')}`,
    '-c',
    `ssl_key_file=${path.join(dir, 'server.key')}`,
    '-c',
    'ssl_min_protocol_version=TLSv1.2',
    '-c',
    'password_encryption=scram-sha-256',
    '-c',
    'fsync=off',
    '-c',
    'max_connections=200',
  ]);
  const { exited } = await waitForPostgres(proc, bin, port, `on port ${port}`);

  const ca = await readFile(path.join(dir, 'ca.crt'), 'utf8');
  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    ca,
    dir,
    url: `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres?sslmode=verify-full`,
    async useCertificate(certPem, keyPem) {
      const cert = path.join(dir, 'server.crt');
      const key = path.join(dir, 'server.key');
      await writeFile(cert, certPem);
      await writeFile(key, keyPem, { mode: 0o600 });
      if (asRoot) await run('chown', ['postgres:postgres', cert, key]);
      await runAsServerUser(path.join(bin, 'pg_ctl'), ['reload', '-D', data, '-s']);
    },
    async stop() {
      // SIGINT is PostgreSQL's "fast shutdown".
      proc.kill('SIGINT');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Waits until the PostgreSQL server `proc` answers pg_isready on `port`;
 * kills it and says what it printed if it exits or takes over 30 s.
 * Returns a promise of its exit, for the caller's stop.
 */
export async function waitForPostgres(
  proc: ChildProcess,
  bin: string,
  port: number,
  where: string,
): Promise<{ exited: Promise<number | null> }> {
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((ok) => proc.once('exit', ok));
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await run(path.join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port)]);
      return { exited };
    } catch {
      if (proc.exitCode !== null || Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`PostgreSQL did not start ${where}: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A one-connection client of the harness server as its superuser, over verified TLS. */
export function superuserClient(pg: TestPostgres, database = 'postgres'): postgres.Sql {
  return postgres({
    host: pg.host,
    port: pg.port,
    username: pg.user,
    password: pg.password,
    database,
    ssl: { ca: pg.ca, rejectUnauthorized: true },
    max: 1,
    onnotice: () => undefined,
  });
}

/** How a job (backup, restore, export) reaches `database` on the harness server: as its superuser, over verify-full TLS. */
export function jobTarget(pg: TestPostgres, database: string): DatabaseTarget {
  return {
    host: '127.0.0.1',
    port: pg.port,
    database,
    user: pg.user,
    password: pg.password,
    sslmode: 'verify-full',
    caFile: path.join(pg.dir, 'ca.crt'),
  };
}

/** Creates `database` on the harness server and runs `schema` in it. */
export async function createDatabase(pg: TestPostgres, database: string, schema?: string): Promise<void> {
  const admin = superuserClient(pg);
  await admin.unsafe(`create database "${database}"`).finally(() => admin.end());
  if (!schema) return;
  const sql = superuserClient(pg, database);
  await sql.unsafe(schema).finally(() => sql.end());
}
