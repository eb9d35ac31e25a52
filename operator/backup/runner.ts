// `holdfast backup`: pg_dump (custom format, compressed by pg_dump) streamed
// through age encryption to every destination at once. Nothing unencrypted
// touches a disk and the dump is never held in memory: the pipeline holds a
// few chunks per destination, and a slow destination slows the dump rather
// than filling memory.
//
// Row counts and a digest of each table's content are taken in the very
// snapshot pg_dump dumps (exported from a REPEATABLE READ transaction and
// handed to pg_dump with --snapshot), so the manifest's counts and digests
// are what a restore must show.
//
// A destination that fails loses only its copy; the others are still
// written. The manifest goes last, and only next to a copy that was stored.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import type { BackupReason, CopyStatus } from '../api/backup.js';
import { encryptStream } from './age-stream.js';
import { connect, DIGEST_METHOD, libpqEnvironment, reachable, readContents, type DatabaseTarget } from './database.js';
import { artifactKey, humanSize, MANIFEST_FORMAT, manifestKey, type Manifest } from './artifact.js';
import type { Destination } from './destinations.js';
import { distribute } from './fan-out.js';

export type { DatabaseTarget } from './database.js';

export interface BackupJob {
  workspace: string;
  backup: string;
  reason: BackupReason;
  database: DatabaseTarget;
  /** age recipients: the workspace's own key and the customer's escrow keys. */
  recipients: string[];
  destinations: Destination[];
  /** pg_dump to run; the image carries the newest major Holdfast supports. */
  pgDump?: string;
  /** Told of progress, to keep the Backup resource current. */
  recorder?: BackupRecorder;
  log: Logger;
  /** When the backup started (the artifact's folder is its month); now when not given. */
  startedAt?: Date;
}

export interface BackupProgress {
  phase: 'Running' | 'Succeeded' | 'Failed';
  message?: string;
  startedAt: string;
  completedAt?: string;
  artifact?: string;
  size?: number;
  sizeText?: string;
  sha256?: string;
  tables?: number;
  rows?: number;
  serverVersion?: string;
  copies?: CopyStatus[];
  copiesText?: string;
}

export interface BackupRecorder {
  update(progress: BackupProgress): Promise<void>;
}

/** The server is newer than the pg_dump this image carries: refused before dumping anything. */
export class VersionRefused extends Error {}

export interface BackupResult {
  manifest: Manifest;
  /** Copies that failed, with why; the backup stands if at least one was stored. */
  failed: { destination: string; message: string }[];
}

/** `pg_dump (PostgreSQL) 17.12 (Debian 17.12-1)` → 17.12 */
export async function pgDumpVersion(pgDump: string): Promise<string> {
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn(pgDump, ['--version'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    p.stdout.on('data', (d: Buffer) => (text += d.toString()));
    p.on('error', (err) => reject(new Error(`${pgDump} cannot run: ${err.message}`)));
    p.on('close', () => resolve(text));
  });
  const m = /\(PostgreSQL\)\s+(\d+(\.\d+)?)/.exec(out);
  if (!m) throw new Error(`cannot read the version of ${pgDump} from "${out.trim()}"`);
  return m[1]!;
}

/** The first bytes of every pg_dump custom-format archive. */
const ARCHIVE_MAGIC = Buffer.from('PGDMP');

const major = (version: string): number => Number.parseInt(version, 10);

export async function runBackup(job: BackupJob): Promise<BackupResult> {
  const { log } = job;
  const started = job.startedAt ?? new Date();
  const artifact = artifactKey(job.workspace, job.backup, started);
  const progress: BackupProgress = { phase: 'Running', startedAt: started.toISOString(), artifact };
  const record = async (change: Partial<BackupProgress>) => {
    Object.assign(progress, change);
    await job.recorder?.update({ ...progress }).catch((err: unknown) => {
      log.warn({ err }, 'could not record the backup progress');
    });
  };
  const copies: CopyStatus[] = job.destinations.map((d) => ({
    destination: d.name,
    phase: 'Uploading',
    location: d.location(artifact),
  }));
  const copiesText = () => `${copies.filter((c) => c.phase === 'Stored').length}/${copies.length}`;
  await record({ copies, copiesText: copiesText() });

  const pgDump = job.pgDump ?? 'pg_dump';
  const ca = job.database.caFile ? await readFile(job.database.caFile, 'utf8') : undefined;
  const sql = connect(job.database, ca);
  try {
    if (job.destinations.length === 0) throw new Error('the workspace has no backup destination');
    if (job.recipients.length === 0) throw new Error('the backup has no age recipient');
    const toolVersion = await pgDumpVersion(pgDump);
    await reachable(sql, log);
    const reserved = await sql.reserve();
    try {
      const [{ server_version: serverVersion }] = (await reserved`show server_version`) as unknown as [
        { server_version: string },
      ];
      if (major(serverVersion) > major(toolVersion))
        throw new VersionRefused(
          `the database server runs PostgreSQL ${serverVersion}, newer than the pg_dump ${toolVersion} of this Holdfast ` +
            `image: a dump could not be restored faithfully. Upgrade Holdfast to a release that supports PostgreSQL ${major(serverVersion)}.`,
        );
      await reserved`begin isolation level repeatable read read only`;
      const [{ snapshot }] = (await reserved`select pg_export_snapshot() as snapshot`) as unknown as [
        { snapshot: string },
      ];
      await record({ serverVersion });
      log.info({ artifact, serverVersion, pgDump: toolVersion }, 'backup started');

      // Counted and summed up while pg_dump reads, in the same snapshot.
      const counting = readContents(reserved);
      counting.catch(() => undefined);
      // Made before pg_dump starts: its output must be piped in the tick it is
      // spawned. Node discards the unread output of a child that has exited,
      // so a small dump would otherwise be lost while the header is made.
      const encrypt = await encryptStream(job.recipients);
      const { expected, stored, failed } = await distribute({
        key: artifact,
        destinations: job.destinations,
        what: 'backup',
        log,
        onCopy: async (i, outcome) => {
          copies[i] = { ...copies[i]!, ...outcome };
          await record({ copies, copiesText: copiesText() });
        },
        produce: (sink) => dumpInto(sink, encrypt, pgDump, snapshot, job.database),
      });
      const contents = await counting;
      const rowCounts = contents.rows;
      await reserved`commit`;

      const completedAt = new Date();
      const rows = Object.values(rowCounts).reduce((a, b) => a + b, 0);
      const manifest: Manifest = {
        format: MANIFEST_FORMAT,
        backup: job.backup,
        workspace: job.workspace,
        reason: job.reason,
        artifact,
        size: expected.size,
        sha256: expected.sha256,
        encryption: { format: 'age-encryption.org/v1', recipients: [...job.recipients] },
        database: { name: job.database.database, serverVersion, tables: Object.keys(rowCounts).length, rows },
        rowCounts,
        contentDigests: { method: DIGEST_METHOD, tables: contents.digests },
        tools: { pgDump: toolVersion, holdfast: HOLDFAST_VERSION },
        startedAt: started.toISOString(),
        completedAt: completedAt.toISOString(),
        copies: stored.map((d) => ({ destination: d.name, location: d.location(artifact) })),
      };
      const text = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
      for (const d of stored) {
        const i = job.destinations.indexOf(d);
        await d.put(manifestKey(artifact), text).catch((err: unknown) => {
          // Without its manifest a copy is not complete: it counts as failed.
          copies[i] = { ...copies[i]!, phase: 'Failed', message: `manifest: ${(err as Error).message}` };
          failed.push({ destination: d.name, message: `manifest: ${(err as Error).message}` });
        });
      }
      if (failed.length === job.destinations.length)
        throw new Error(`no manifest could be written: ${failed[0]!.message}`);
      await record({
        phase: 'Succeeded',
        completedAt: manifest.completedAt,
        size: manifest.size,
        sizeText: humanSize(manifest.size),
        sha256: manifest.sha256,
        tables: manifest.database.tables,
        rows,
        copies,
        copiesText: copiesText(),
        ...(failed.length > 0
          ? { message: `copies failed: ${failed.map((f) => `${f.destination}: ${f.message}`).join('; ')}` }
          : { message: '' }),
      });
      log.info(
        { artifact, size: manifest.size, sha256: manifest.sha256, rows, copies: copiesText() },
        'backup finished',
      );
      return { manifest, failed };
    } finally {
      reserved.release();
    }
  } catch (err) {
    await record({ phase: 'Failed', completedAt: new Date().toISOString(), message: (err as Error).message });
    throw err;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * pg_dump of the exported snapshot, encrypted, into `sink`; resolves once
 * pg_dump exited 0 having written a custom-format archive and every byte has
 * gone into the sink.
 */
async function dumpInto(
  sink: Writable,
  encrypt: Transform,
  pgDump: string,
  snapshot: string,
  database: DatabaseTarget,
): Promise<void> {
  const dump = spawn(pgDump, ['--format=custom', `--snapshot=${snapshot}`, '--no-password'], {
    env: libpqEnvironment(database) as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const piped = pipeline(dump.stdout, encrypt, sink);
  piped.catch(() => undefined);
  // A custom-format archive starts with its magic; anything else (nothing
  // at all, for one) is no backup, whatever pg_dump's exit code says.
  let head = Buffer.alloc(0);
  const readHead = (d: Buffer) => {
    head = Buffer.concat([head, d]).subarray(0, ARCHIVE_MAGIC.length);
    if (head.length === ARCHIVE_MAGIC.length) dump.stdout.off('data', readHead);
  };
  dump.stdout.on('data', readHead);
  let stderr = '';
  dump.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve, reject) => {
    dump.on('error', reject);
    dump.on('close', (code, signal) => {
      if (code !== 0)
        reject(new Error(`pg_dump failed (${signal ?? `exit ${code}`}): ${stderr.trim() || 'no message'}`));
      else if (!head.equals(ARCHIVE_MAGIC))
        reject(
          new Error(
            `pg_dump exited 0 but wrote ${head.length === 0 ? 'nothing' : 'no custom-format archive'}: ${stderr.trim() || 'no message'}`,
          ),
        );
      else resolve();
    });
  });
  exited.catch(() => undefined);
  try {
    await piped;
    await exited;
  } catch (err) {
    dump.kill('SIGKILL');
    throw err;
  }
}

/** The release, for manifests: set in the image (HOLDFAST_VERSION), else the source tree's. */
export const HOLDFAST_VERSION = process.env.HOLDFAST_VERSION ?? 'dev';

/** Reads a stored copy back and checks it against its manifest: a changed or cut-short artifact is found here. */
export async function checkCopy(
  destination: Destination,
  manifest: Pick<Manifest, 'artifact' | 'size' | 'sha256'>,
): Promise<{ ok: true } | { ok: false; message: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of (await destination.get(manifest.artifact)) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  const sha256 = hash.digest('hex');
  if (size !== manifest.size)
    return {
      ok: false,
      message: `${destination.location(manifest.artifact)} holds ${size} bytes, the manifest says ${manifest.size}`,
    };
  if (sha256 !== manifest.sha256)
    return {
      ok: false,
      message: `${destination.location(manifest.artifact)} has SHA-256 ${sha256}, the manifest says ${manifest.sha256}: the copy was changed`,
    };
  return { ok: true };
}
