// Runs a Dedicated database pod's PostgreSQL initialisation and server on
// this machine, with Debian's PostgreSQL binaries: the init container's
// command and environment, then the server with the container's arguments,
// with the pod's mount paths moved under a temporary directory. Until pods
// run on a real node, this is how the StatefulSet's contract meets a real
// PostgreSQL.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { freePort, postgresBinDir, waitForPostgres } from './postgres.js';

const run = promisify(execFile);

interface EnvVar {
  name: string;
  value?: string;
}

export interface PodSpec {
  initContainers: { command: string[]; env: EnvVar[] }[];
  containers: { args: string[]; env: EnvVar[] }[];
}

export interface PodDatabase {
  connect(user: string, password: string, database: string): postgres.Sql;
  /** Over the Unix socket, with no password: what `trust` would let in. */
  connectLocal(user: string, database: string): postgres.Sql;
  stop(): Promise<void>;
}

async function serverUser(): Promise<{ uid?: number; gid?: number }> {
  if (userInfo().uid !== 0) return {};
  const id = async (flag: string) => Number((await run('id', [flag, 'postgres'])).stdout.trim());
  return { uid: await id('-u'), gid: await id('-g') };
}

/** A CA and a server certificate for 127.0.0.1, as the pod's db-tls Secret would hold. */
async function tlsFiles(dir: string): Promise<void> {
  const ssl = (args: string[]) => run('openssl', args, { cwd: dir });
  await ssl(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=pod-ca'].concat([
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
    ]),
  );
  await ssl([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    'tls.key',
    '-out',
    'tls.csr',
  ]);
  await writeFile(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await ssl(
    ['x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1'].concat([
      '-extfile',
      'san.ext',
      '-out',
      'tls.crt',
    ]),
  );
  await chmod(path.join(dir, 'tls.key'), 0o600);
}

export async function runLikeThePod(pod: PodSpec, files: Record<string, string>): Promise<PodDatabase> {
  const root = await mkdtemp(path.join(tmpdir(), 'holdfast-pod-'));
  const moved = (v: string) =>
    v.replace(/\/etc\/holdfast\//g, `${root}/etc/holdfast/`).replace(/^\/var\/lib\/postgresql\/data/, `${root}/data`);
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), content);
  }
  const tls = path.join(root, 'etc/holdfast/tls');
  await mkdir(tls, { recursive: true });
  await tlsFiles(tls);
  for (const dir of ['data', 'run', 'tmp']) await mkdir(path.join(root, dir));
  const ids = await serverUser();
  if (ids.uid !== undefined) await run('chown', ['-R', 'postgres:postgres', root]);

  const bin = postgresBinDir();
  const init = pod.initContainers[0]!;
  // Only what the container gets (and PATH): nothing of this process leaks in.
  const envOf = (vars: EnvVar[]) =>
    ({
      PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      TMPDIR: path.join(root, 'tmp'),
      ...Object.fromEntries(vars.map((e) => [e.name, moved(e.value ?? '')])),
    }) as unknown as NodeJS.ProcessEnv;
  const [shell, ...script] = init.command.map(moved);
  await run(shell!, script, { ...ids, cwd: '/', env: envOf(init.env) });

  const container = pod.containers[0]!;
  const port = await freePort();
  const socketDir = path.join(root, 'run');
  const server: ChildProcess = spawn(
    path.join(bin, 'postgres'),
    [...container.args.map(moved), '-p', String(port), '-k', socketDir, '-c', 'listen_addresses=127.0.0.1'],
    { ...ids, cwd: '/', env: envOf(container.env), stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const { exited } = await waitForPostgres(server, bin, port, 'as the pod would');
  const ca = await readFile(path.join(tls, 'ca.crt'), 'utf8');
  const options = { max: 1, connect_timeout: 5, onnotice: () => undefined };
  return {
    connect: (username, password, database) =>
      postgres({
        ...options,
        host: '127.0.0.1',
        port,
        username,
        password,
        database,
        ssl: { ca, rejectUnauthorized: true },
      }),
    connectLocal: (username, database) =>
      postgres({ ...options, path: path.join(socketDir, `.s.PGSQL.${port}`), username, database }),
    async stop() {
      server.kill('SIGINT');
      const timer = setTimeout(() => server.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      await rm(root, { recursive: true, force: true });
    },
  };
}
