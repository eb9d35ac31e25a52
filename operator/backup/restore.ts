// Restoring a backup artifact into an empty database: what restore drills
// and Restores run. The copy is streamed from its destination through
// age decryption into pg_restore, never whole on disk or in memory, and
// proven on the way: every chunk authenticates, and the last chunk of the
// archive reaches pg_restore only once the copy's size and SHA-256 match the
// manifest. pg_restore runs in one transaction, so a copy that fails any of
// this leaves the target as empty as it was. The restored rows are then
// counted and compared with the manifest's counts.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { decryptStream } from './age-stream.js';
import { manifestKey, MANIFEST_FORMAT, type Manifest } from './artifact.js';
import {
  connect,
  DIGEST_METHOD,
  libpqEnvironment,
  readDatabaseContents,
  reachable,
  userTables,
  type DatabaseTarget,
  type TableContents,
} from './database.js';
import type { Destination } from './destinations.js';
import { exitOf, pgRestoreMajor, restoreInto, scriptForServer } from './pg-restore.js';

/** Refused before anything was restored: the message says why and what to do. */
export class RestoreRefused extends Error {}

export interface RestoreJob {
  /** The workspace whose backup this must be. */
  workspace: string;
  /** The artifact's key (`<workspace>/<yyyy>/<mm>/<backup>.dump.age`) and where it is. */
  artifact: string;
  source: Destination;
  /** AGE-SECRET-KEY-1… identities; one of them must be a recipient. */
  identities: readonly string[];
  /** An empty database to restore into. */
  target: DatabaseTarget;
  pgRestore?: string;
  log: Logger;
  /** Bytes of the stored copy read so far. */
  onBytes?: (bytes: number) => void;
}

export interface RestoreResult {
  manifest: Manifest;
  /** Rows per table in the restored database. */
  rowCounts: Record<string, number>;
  /** Tables whose restored rows differ from the manifest's, in number or content (none when the restore is faithful). */
  mismatches: Mismatch[];
  /** The manifest had content digests, and they were compared. */
  contentChecked: boolean;
  durationMs: number;
  bytes: number;
}

export async function readManifest(source: Destination, artifact: string): Promise<Manifest> {
  const key = manifestKey(artifact);
  let text = '';
  try {
    for await (const chunk of (await source.get(key)) as AsyncIterable<Buffer>) text += chunk.toString('utf8');
  } catch (err) {
    throw new RestoreRefused(
      `the manifest ${source.location(key)} cannot be read (${(err as Error).message}): a backup without its manifest cannot be proven`,
      { cause: err },
    );
  }
  const manifest = JSON.parse(text) as Manifest;
  if (manifest.format !== MANIFEST_FORMAT)
    throw new RestoreRefused(
      `${source.location(key)} is not a Holdfast backup manifest (format ${String(manifest.format)})`,
    );
  return manifest;
}

/**
 * Passes the plaintext on one chunk behind, and the last only when `check`
 * passes at the end: a reader (pg_restore) never sees a whole archive from a
 * copy that failed its check.
 */
function holdLast(check: () => void): Transform {
  let held: Buffer | undefined;
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      if (held) this.push(held);
      held = chunk;
      done();
    },
    flush(done: TransformCallback) {
      try {
        check();
      } catch (err) {
        done(err as Error);
        return;
      }
      if (held) this.push(held);
      done();
    },
  });
}

/** The manifest beside an artifact, once it is known to be this workspace's backup and in its place. */
async function checkedManifest(job: Pick<RestoreJob, 'workspace' | 'artifact' | 'source'>): Promise<Manifest> {
  const manifest = await readManifest(job.source, job.artifact);
  if (manifest.workspace !== job.workspace)
    throw new RestoreRefused(
      `backup ${manifest.backup} is of workspace ${manifest.workspace}, not ${job.workspace}: restore a backup of ${job.workspace}`,
    );
  if (manifest.artifact !== job.artifact)
    throw new RestoreRefused(
      `the manifest beside ${job.artifact} describes ${manifest.artifact}: the copy is misplaced`,
    );
  return manifest;
}

/**
 * Streams the copy, decrypted, into `into` (pg_restore's input), counting the
 * stored bytes for `onBytes`; the archive's last chunk is passed on only once
 * the copy's size and SHA-256 match the manifest.
 */
async function streamArchive(
  job: Pick<RestoreJob, 'artifact' | 'source' | 'identities'>,
  manifest: Manifest,
  into: NodeJS.WritableStream,
  onBytes?: (bytes: number) => void,
): Promise<number> {
  const hash = createHash('sha256');
  let bytes = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      hash.update(chunk);
      bytes += chunk.length;
      onBytes?.(bytes);
      done(null, chunk);
    },
  });
  const check = () => {
    if (bytes !== manifest.size)
      throw new RestoreRefused(
        `${job.source.location(job.artifact)} holds ${bytes} bytes, its manifest says ${manifest.size}: the copy is incomplete`,
      );
    const sha256 = hash.digest('hex');
    if (sha256 !== manifest.sha256)
      throw new RestoreRefused(
        `${job.source.location(job.artifact)} has SHA-256 ${sha256}, its manifest says ${manifest.sha256}: the copy is not the backup that was taken`,
      );
  };
  await pipeline(await job.source.get(job.artifact), counted, decryptStream(job.identities), holdLast(check), into);
  return bytes;
}

/** A failure of the copy itself (its checks, its decryption), rather than of the tool it was streamed into. */
const copyFailed = (err: unknown) => err instanceof RestoreRefused || /^age: /.test((err as Error).message);

export interface Mismatch {
  table: string;
  expected?: number;
  restored?: number;
  /** The same number of rows, but not the same rows. */
  contentDiffers?: boolean;
}

/** What differs between the manifest and the restored database, table by table. */
export function compare(manifest: Manifest, restored: TableContents): Mismatch[] {
  const digests = manifest.contentDigests?.method === DIGEST_METHOD ? manifest.contentDigests.tables : undefined;
  const tables = new Set([...Object.keys(manifest.rowCounts), ...Object.keys(restored.rows)]);
  return [...tables]
    .sort()
    .map((table) => ({
      table,
      expected: manifest.rowCounts[table],
      restored: restored.rows[table],
      contentDiffers: digests !== undefined && digests[table] !== restored.digests[table],
    }))
    .filter((m) => m.expected !== m.restored || m.contentDiffers)
    .map(({ contentDiffers, ...m }) => (contentDiffers && m.expected === m.restored ? { ...m, contentDiffers } : m));
}

/** "public.hours 1000 rows (manifest 1234), public.notes: other rows than the manifest's (12 rows)" */
export function describeMismatches(mismatches: readonly Mismatch[]): string {
  return mismatches
    .slice(0, 5)
    .map((m) =>
      m.contentDiffers
        ? `${m.table}: other rows than the backup's (${m.restored} rows, content differs)`
        : `${m.table} ${m.restored ?? 'missing'} (manifest ${m.expected ?? 'missing'})`,
    )
    .join(', ');
}

const result = (
  manifest: Manifest,
  contents: TableContents,
  mismatches: Mismatch[],
  durationMs: number,
  bytes: number,
): RestoreResult => ({
  manifest,
  rowCounts: contents.rows,
  mismatches,
  contentChecked: manifest.contentDigests?.method === DIGEST_METHOD,
  durationMs,
  bytes,
});

export async function restoreArtifact(job: RestoreJob): Promise<RestoreResult> {
  const started = Date.now();
  const manifest = await checkedManifest(job);
  const ca = job.target.caFile ? await readFile(job.target.caFile, 'utf8') : undefined;
  const sql = connect(job.target, ca);
  try {
    await reachable(sql, job.log);
    const present = await userTables(sql);
    const [{ n: largeObjects }] = (await sql`select count(*)::int as n from pg_largeobject_metadata`) as unknown as [
      { n: number },
    ];
    if (present.length > 0 || largeObjects > 0)
      throw new RestoreRefused(
        `database ${job.target.database} is not empty (${present.length} tables, ${largeObjects} large objects): ` +
          'restore into an empty database, or restore in place, which keeps a safety backup first',
      );

    const [{ v }] = (await sql`select current_setting('server_version_num')::int as v`) as unknown as [{ v: number }];
    // Piped in the tick it is spawned (Node drops the output of a child it has not read).
    const restore = restoreInto(job, v, await pgRestoreMajor(job.pgRestore ?? 'pg_restore'));
    const exited = restore.exited;
    let bytes: number;
    try {
      bytes = await streamArchive(job, manifest, restore.stdin, job.onBytes);
      restore.proven();
    } catch (err) {
      // The copy failed its checks: pg_restore is stopped before it commits.
      // Otherwise pg_restore itself failed, and its message says why.
      if (copyFailed(err)) restore.kill();
      else restore.unproven();
      const failed = await exited.then(
        () => undefined,
        (e: unknown) => e,
      );
      throw copyFailed(err) || !failed ? err : failed;
    }
    await exited;

    // Committed: a failure from here on must not say that nothing was restored.
    const contents = await readDatabaseContents(sql).catch((err: unknown) => {
      throw new RestoredUncounted(
        `backup ${manifest.backup} was restored and committed into ${job.target.database}, but its rows could not be counted: ${(err as Error).message}`,
        { cause: err },
      );
    });
    const mismatches = compare(manifest, contents);
    const durationMs = Date.now() - started;
    job.log.info(
      { backup: manifest.backup, tables: Object.keys(contents.rows).length, mismatches: mismatches.length, durationMs },
      'backup restored',
    );
    return result(manifest, contents, mismatches, durationMs, bytes);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export interface InPlaceProgress {
  /** Bytes of the stored copy read, of `totalBytes`. */
  bytes: number;
  totalBytes: number;
  /** Tables whose rows are loaded, of `totalTables` (the manifest's). */
  tables: number;
  totalTables: number;
}

export interface InPlaceJob extends Omit<RestoreJob, 'target'> {
  /** The workspace's database, connected to as the role that owns its objects. */
  target: DatabaseTarget;
  psql?: string;
  onProgress?: (p: InPlaceProgress) => void;
}

/**
 * Replaces a database's contents with a backup, in one transaction: the
 * role's other sessions in the database are ended, everything the role owns
 * there is dropped (DROP OWNED: tables, views, sequences, functions, types and
 * schemas made after the backup too), and pg_restore's script recreates the
 * backup's objects and rows. COMMIT is sent only after pg_restore has read
 * the whole archive and the copy's size and SHA-256 matched the manifest: on
 * any failure the session ends without it and the server rolls everything
 * back, so the database holds what it held before. Sessions that connect
 * meanwhile wait on the transaction's locks, then see the restored data.
 */
export async function restoreInPlace(job: InPlaceJob): Promise<RestoreResult> {
  const started = Date.now();
  const manifest = await checkedManifest(job);
  const totalTables = Object.keys(manifest.rowCounts).length;
  const ca = job.target.caFile ? await readFile(job.target.caFile, 'utf8') : undefined;
  // Closed before the restore ends the role's other sessions, this one among them.
  const before = connect(job.target, ca);
  const [{ v }] = (await reachable(before, job.log)
    .then(() => before`select current_setting('server_version_num')::int as v`)
    .finally(() => before.end({ timeout: 5 }))) as unknown as [{ v: number }];
  const bytes = await replace(job, manifest, totalTables, v);
  const sql = connect(job.target, ca);
  try {
    const contents = await readDatabaseContents(sql);
    const mismatches = compare(manifest, contents);
    const durationMs = Date.now() - started;
    job.log.info(
      { backup: manifest.backup, tables: Object.keys(contents.rows).length, mismatches: mismatches.length, durationMs },
      'backup restored in place',
    );
    return result(manifest, contents, mismatches, durationMs, bytes);
  } catch (err) {
    throw new RestoredUncounted(
      `backup ${manifest.backup} was restored and committed, but its rows could not be counted: ${(err as Error).message}`,
      { cause: err },
    );
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Runs the transaction; resolves with the bytes of the copy read once it has committed. */
async function replace(
  job: InPlaceJob,
  manifest: Manifest,
  totalTables: number,
  serverVersionNum: number,
): Promise<number> {
  const env = libpqEnvironment(job.target) as NodeJS.ProcessEnv;
  const psql = spawn(
    job.psql ?? 'psql',
    ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', job.target.database, '-o', '/dev/null'],
    { env, stdio: ['pipe', 'ignore', 'pipe'] },
  );
  const applied = exitOf(psql, 'psql');
  psql.stdin.write(
    [
      'BEGIN;',
      // Waiting for a lock longer than this means a session of another role holds it: fail, change nothing.
      "SET LOCAL lock_timeout = '2min';",
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity',
      '  WHERE datname = current_database() AND usename = current_user AND pid <> pg_backend_pid();',
      'DROP OWNED BY CURRENT_USER;',
      '',
    ].join('\n'),
  );
  const script = spawn(job.pgRestore ?? 'pg_restore', ['--no-owner', '--no-privileges', '--exit-on-error', '-f', '-'], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const scripted = exitOf(script, 'pg_restore');
  let bytes = 0;
  let tables = 0;
  const progress = () => job.onProgress?.({ bytes, totalBytes: manifest.size, tables, totalTables });
  // The end of each table's rows in the script ("\." on a line of its own),
  // found across chunk boundaries too: a chunk's last 3 bytes are searched again.
  const END = Buffer.from('\n\\.\n');
  let carry = Buffer.alloc(0);
  const tablesDone = new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      const text = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      const before = tables;
      for (let i = text.indexOf(END); i >= 0; i = text.indexOf(END, i + 1)) tables++;
      carry = Buffer.from(text.subarray(Math.max(0, text.length - (END.length - 1))));
      if (tables !== before) progress();
      done(null, chunk);
    },
  });
  const piped = pipeline(script.stdout, scriptForServer(serverVersionNum), tablesDone, psql.stdin, { end: false });
  piped.catch(() => undefined);
  try {
    bytes = await streamArchive(job, manifest, script.stdin, (b) => {
      bytes = b;
    });
    await scripted;
    await piped;
  } catch (err) {
    // psql stopped at an SQL error has said why; otherwise it is ended here,
    // without COMMIT, and the server rolls the transaction back.
    const psqlStopped = psql.exitCode !== null;
    script.kill('SIGTERM');
    psql.kill('SIGTERM');
    const why = (p: Promise<void>) =>
      p.then(
        () => undefined,
        (e: unknown) => e,
      );
    const [psqlError, restoreError] = await Promise.all([why(applied), why(scripted)]);
    if (copyFailed(err)) throw err;
    throw (psqlStopped ? psqlError : undefined) ?? restoreError ?? psqlError ?? err;
  }
  psql.stdin.end('COMMIT;\n');
  await applied;
  progress();
  return bytes;
}

/** The restore committed; what failed came after (counting the rows). */
export class RestoredUncounted extends Error {}
