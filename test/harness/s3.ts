// A real S3-compatible server (versitygw, built by hack/build-tools.sh) for
// backup tests and benchmarks: its posix backend over a temp dir, one root
// account with random keys, SigV4 checked on every request as S3 does.
// kill() and restart() make the "object store down" and "back again" cases.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { S3Destination } from '../../operator/backup/destinations.js';
import { freePort } from './postgres.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

export interface StartS3Options {
  /** The address to listen on: 127.0.0.1 (default), or 0.0.0.0 for pods on the node to reach it. */
  host?: string;
}

export interface TestS3 {
  /** `http://127.0.0.1:<port>`, for this process; pods use the node's address and `port`. */
  endpoint: string;
  port: number;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The objects as plain files, `<dataDir>/<bucket>/<key>`. */
  dataDir: string;
  /** Creates a bucket as the root account; names follow S3's rules (3 to 63 characters, lowercase), which versitygw enforces. */
  bucket(name: string): Promise<void>;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
  /** SIGKILL: the server is gone at once, mid-request if one is running; its data stays for restart(). */
  kill(): Promise<void>;
  /** Starts the server again on the same port, credentials and data (stopping it first if it runs). */
  restart(): Promise<void>;
}

export const S3_REGION = 'us-east-1';

/**
 * A client for `s3` as Holdfast's backup code configures one. Path-style
 * addressing because the endpoint is an address, not a DNS name buckets can
 * be prefixed to. Checksums only when an operation requires them: the CRC32
 * trailers the SDK sends and checks by default (since 3.729) are refused or
 * not returned by some S3-compatible stores. versitygw accepts both ways, so
 * the tests send what production sends.
 */
export function testS3Client(s3: TestS3, overrides: { maxAttempts?: number } = {}): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...overrides,
  });
}

async function versitygwBinary(): Promise<string> {
  const { stdout } = await run(path.join(root, 'hack/build-tools.sh'), ['--print-dir', 'versitygw']);
  const binary = path.join(stdout.trim(), 'versitygw');
  if (!existsSync(binary)) throw new Error(`${binary} not found; run hack/build-tools.sh versitygw (hack/test does)`);
  return binary;
}

interface Running {
  proc: ChildProcess;
  exited: Promise<void>;
}

export async function startS3(opts: StartS3Options = {}): Promise<TestS3> {
  const host = opts.host ?? '127.0.0.1';
  const binary = await versitygwBinary();
  const dir = await mkdtemp(path.join(tmpdir(), 'holdfast-s3-'));
  const dataDir = path.join(dir, 'data');
  // Metadata (ETags, content types, multipart state) in a sidecar directory:
  // the default keeps it in xattrs, which not every temp filesystem offers.
  await Promise.all(['data', 'meta', 'iam'].map((d) => mkdir(path.join(dir, d))));
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const accessKeyId = `HF${randomBytes(9).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(30).toString('base64url');

  const launch = async (): Promise<Running> => {
    const proc = spawn(
      binary,
      [
        '--port',
        `${host}:${port}`,
        '--iam-dir',
        path.join(dir, 'iam'),
        // Unauthenticated, so that readiness needs no signed request.
        '--health',
        '/health',
        // No access log on stdout: a benchmark's requests would fill the pipe.
        '--quiet',
        'posix',
        '--sidecar',
        path.join(dir, 'meta'),
        dataDir,
      ],
      {
        env: { ...process.env, ROOT_ACCESS_KEY: accessKeyId, ROOT_SECRET_KEY: secretAccessKey },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    const keep = (d: Buffer) => (output = (output + d.toString()).slice(-4000));
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    const exited = new Promise<void>((ok) => proc.once('exit', () => ok()));
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(2_000) });
        if (res.ok) return { proc, exited };
      } catch {
        // Not listening yet.
      }
      if (proc.exitCode !== null || proc.signalCode !== null || Date.now() > deadline) {
        proc.kill('SIGKILL');
        await exited;
        throw new Error(`versitygw did not start on ${host}:${port}: ${output}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const terminate = async (running: Running, signal: NodeJS.Signals) => {
    if (running.proc.exitCode === null && running.proc.signalCode === null) running.proc.kill(signal);
    const timer = setTimeout(() => running.proc.kill('SIGKILL'), 10_000);
    await running.exited;
    clearTimeout(timer);
  };

  let running: Running | undefined;
  try {
    running = await launch();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  const s3: TestS3 = {
    endpoint,
    port,
    region: S3_REGION,
    accessKeyId,
    secretAccessKey,
    dataDir,
    async bucket(name) {
      const client = testS3Client(s3);
      try {
        await client.send(new CreateBucketCommand({ Bucket: name }));
      } finally {
        client.destroy();
      }
    },
    async stop() {
      if (running) await terminate(running, 'SIGTERM');
      running = undefined;
      await rm(dir, { recursive: true, force: true });
    },
    async kill() {
      if (running) await terminate(running, 'SIGKILL');
      running = undefined;
    },
    async restart() {
      if (running) await terminate(running, 'SIGTERM');
      running = undefined;
      running = await launch();
    },
  };
  return s3;
}

/** Holdfast's own S3 destination on a bucket of the test server, as a BackupDestination would make it. */
export function s3Destination(
  s3: TestS3,
  bucket: string,
  opts: { name?: string; prefix?: string; partSize?: number } = {},
): S3Destination {
  return new S3Destination(opts.name ?? 'offsite', {
    endpoint: s3.endpoint,
    bucket,
    prefix: opts.prefix ?? '',
    region: s3.region,
    forcePathStyle: true,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    ...(opts.partSize ? { partSize: opts.partSize } : {}),
  });
}
