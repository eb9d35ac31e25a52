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
import { connect, countRows, libpqEnvironment, userTables, type DatabaseTarget } from './database.js';
import type { Destination } from './destinations.js';

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
}

export interface RestoreResult {
  manifest: Manifest;
  /** Rows per table in the restored database. */
  rowCounts: Record<string, number>;
  /** Tables whose restored row count differs from the manifest's (none when the restore is faithful). */
  mismatches: { table: string; expected?: number; restored?: number }[];
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

export async function restoreArtifact(job: RestoreJob): Promise<RestoreResult> {
  const started = Date.now();
  const manifest = await readManifest(job.source, job.artifact);
  if (manifest.workspace !== job.workspace)
    throw new RestoreRefused(
      `backup ${manifest.backup} is of workspace ${manifest.workspace}, not ${job.workspace}: restore a backup of ${job.workspace}`,
    );
  if (manifest.artifact !== job.artifact)
    throw new RestoreRefused(
      `the manifest beside ${job.artifact} describes ${manifest.artifact}: the copy is misplaced`,
    );

  const ca = job.target.caFile ? await readFile(job.target.caFile, 'utf8') : undefined;
  const sql = connect(job.target, ca);
  try {
    const present = await userTables(sql);
    const [{ n: largeObjects }] = (await sql`select count(*)::int as n from pg_largeobject_metadata`) as unknown as [
      { n: number },
    ];
    if (present.length > 0 || largeObjects > 0)
      throw new RestoreRefused(
        `database ${job.target.database} is not empty (${present.length} tables, ${largeObjects} large objects): ` +
          'restore into an empty database, or restore in place, which keeps a safety backup first',
      );

    const hash = createHash('sha256');
    let bytes = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _enc, done: TransformCallback) {
        hash.update(chunk);
        bytes += chunk.length;
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

    // Piped in the tick it is spawned (Node drops the output of a child it has not read).
    const restore = spawn(
      job.pgRestore ?? 'pg_restore',
      ['--no-owner', '--no-privileges', '--exit-on-error', '--single-transaction', '-d', job.target.database],
      { env: libpqEnvironment(job.target) as NodeJS.ProcessEnv, stdio: ['pipe', 'ignore', 'pipe'] },
    );
    let stderr = '';
    restore.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const exited = new Promise<void>((resolve, reject) => {
      restore.on('error', reject);
      restore.on('close', (code, signal) =>
        code === 0
          ? resolve()
          : reject(new Error(`pg_restore failed (${signal ?? `exit ${code}`}): ${stderr.trim() || 'no message'}`)),
      );
    });
    exited.catch(() => undefined);
    // pg_restore closing its input early (it failed) ends the stream with EPIPE; its own message says more.
    restore.stdin.on('error', () => undefined);
    try {
      await pipeline(
        await job.source.get(job.artifact),
        counted,
        decryptStream(job.identities),
        holdLast(check),
        restore.stdin,
      );
    } catch (err) {
      // The copy failed its checks: pg_restore is stopped before it commits.
      // Otherwise pg_restore itself failed, and its message says why.
      const ours = err instanceof RestoreRefused || /^age: /.test((err as Error).message);
      if (ours) restore.kill('SIGTERM');
      const failed = await exited.then(
        () => undefined,
        (e: unknown) => e,
      );
      throw ours || !failed ? err : failed;
    }
    await exited;

    const rowCounts = await countRows(sql);
    const tables = new Set([...Object.keys(manifest.rowCounts), ...Object.keys(rowCounts)]);
    const mismatches = [...tables]
      .filter((t) => manifest.rowCounts[t] !== rowCounts[t])
      .sort()
      .map((table) => ({ table, expected: manifest.rowCounts[table], restored: rowCounts[table] }));
    const durationMs = Date.now() - started;
    job.log.info(
      { backup: manifest.backup, tables: Object.keys(rowCounts).length, mismatches: mismatches.length, durationMs },
      'backup restored',
    );
    return { manifest, rowCounts, mismatches, durationMs, bytes };
  } finally {
    await sql.end({ timeout: 5 });
  }
}
