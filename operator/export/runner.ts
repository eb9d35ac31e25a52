// `holdfast export`: every table of a workspace's database as CSV and as
// SpreadsheetML 2003 XML, in one zip, encrypted with age to the same
// recipients as its backups, stored at every destination as
//   <workspace>/exports/<yyyy-mm-dd>.zip.age   the archive
//   <workspace>/exports/<yyyy-mm-dd>.json      its manifest (size, SHA-256, tables)
// and kept `retentionDays`. A customer opens it with `age -d` and any unzip.
//
// All tables are read in one REPEATABLE READ snapshot, each twice (once per
// format: a zip's entries follow one another), streamed by psql's COPY at
// the pace the archive is written: memory stays flat whatever a table's
// size, and nothing unencrypted touches a disk.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { Readable, type Transform, type Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import type postgres from 'postgres';
import yazl from 'yazl';
import { encryptStream } from '../backup/age-stream.js';
import { humanSize } from '../backup/artifact.js';
import { connect, libpqEnvironment, userTables, type DatabaseTarget } from '../backup/database.js';
import type { Destination } from '../backup/destinations.js';
import { distribute } from '../backup/fan-out.js';
import { HOLDFAST_VERSION } from '../backup/runner.js';
import {
  csvLine,
  entryName,
  kindOf,
  SHEET_ROW_LIMIT,
  SHEET_TAIL,
  sheetHead,
  sheetName,
  WORKBOOK_HEAD,
  WORKBOOK_TAIL,
  xmlCell,
  type CellKind,
  type Column,
} from './cells.js';

export const EXPORT_FORMAT = 'holdfast.io/export-manifest/v1';

export interface ExportedTable {
  /** schema.table */
  name: string;
  /** The archive's files for it. */
  csv: string;
  xml: string;
  columns: { name: string; type: string }[];
  rows: number;
  worksheets: number;
  /** Cells whose text was longer than a spreadsheet cell holds (32,767 characters), cut in the XML only. */
  cutCells: number;
}

export interface ExportManifest {
  format: typeof EXPORT_FORMAT;
  workspace: string;
  /** The day (UTC) the export was taken; one export per day, a later run replaces it. */
  date: string;
  artifact: string;
  size: number;
  sha256: string;
  encryption: { format: 'age-encryption.org/v1'; recipients: string[] };
  database: { name: string; serverVersion: string; tables: number; rows: number };
  /** Times in the files are UTC; booleans are true/false; NULL is an empty field, an empty text "". */
  tables: ExportedTable[];
  tools: { holdfast: string };
  startedAt: string;
  completedAt: string;
  copies: { destination: string; location: string }[];
}

export interface ExportJob {
  workspace: string;
  database: DatabaseTarget;
  recipients: string[];
  destinations: Destination[];
  /** Exports older than this many days are deleted after a new one is stored. */
  retentionDays: number;
  log: Logger;
  startedAt?: Date;
  /** psql, which reads the tables; the image's unless told otherwise. */
  psql?: string;
  /** Rows a worksheet holds, its header included: Excel's limit unless told otherwise. */
  sheetRows?: number;
}

export interface ExportResult {
  manifest: ExportManifest;
  failed: { destination: string; message: string }[];
  /** Older exports deleted by retention. */
  deleted: number;
}

const EXPORTS = /^(\d{4}-\d{2}-\d{2})\.(zip\.age|json)$/;
export const exportFolder = (workspace: string) => `${workspace}/exports/`;
export const exportKey = (workspace: string, date: string) => `${exportFolder(workspace)}${date}.zip.age`;
export const exportManifestKey = (artifact: string) => artifact.replace(/\.zip\.age$/, '.json');

const ident = (s: string) => `"${s.replaceAll('"', '""')}"`;

/** Times as UTC in ISO form, intervals as PostgreSQL writes them, floats exact: the text every file is made from. */
const SESSION = [
  "set timezone = 'UTC'",
  "set datestyle = 'ISO, YMD'",
  "set intervalstyle = 'postgres'",
  'set extra_float_digits = 1',
];

/** One field of COPY's text format: \\N is NULL; a backslash escapes the character after it. */
const ESCAPED: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
export function copyField(f: string): string | null {
  if (f === '\\N') return null;
  return f.includes('\\') ? f.replace(/\\(.)/gs, (_, c: string) => ESCAPED[c] ?? c) : f;
}

interface Table {
  schema: string;
  name: string;
  columns: Column[];
  kinds: CellKind[];
  out: ExportedTable;
}

async function columnsOf(sql: postgres.ReservedSql, schema: string, name: string): Promise<Column[]> {
  return (await sql`
    select a.attname as name, format_type(a.atttypid, a.atttypmod) as type,
           coalesce(b.typcategory, t.typcategory) as category
    from pg_attribute a
      join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
      join pg_type t on t.oid = a.atttypid left join pg_type b on t.typtype = 'd' and b.oid = t.typbasetype
    where n.nspname = ${schema} and c.relname = ${name} and a.attnum > 0 and not a.attisdropped
    order by a.attnum`) as unknown as Column[];
}

/** How a table is read: psql's COPY in the exported snapshot. */
interface Source {
  psql: string;
  database: DatabaseTarget;
  snapshot: string;
}

/**
 * Every row as PostgreSQL's text, a batch at a time: psql streams COPY of
 * the table in the snapshot of the export's transaction (as pg_dump's
 * workers do), so every read sees the same data; the pipe's backpressure
 * paces it, and a second core does the reading.
 */
async function* rowsOf(source: Source, t: Table): AsyncGenerator<(string | null)[][]> {
  const list = t.columns.map((c) => `${ident(c.name)}::text`).join(', ');
  const p = spawn(
    source.psql,
    [
      '-X',
      '-q',
      '--no-password',
      '-v',
      'ON_ERROR_STOP=1',
      ...SESSION.flatMap((c) => ['-c', c]),
      '-c',
      'begin isolation level repeatable read read only',
      '-c',
      `set transaction snapshot '${source.snapshot}'`,
      '-c',
      `copy (select ${list} from ${ident(t.schema)}.${ident(t.name)}) to stdout`,
      '-c',
      'commit',
    ],
    { env: libpqEnvironment(source.database) as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve, reject) => {
    p.on('error', (err) => reject(new Error(`psql cannot run: ${err.message}`)));
    p.on('close', (code, signal) =>
      code === 0
        ? resolve()
        : reject(
            new Error(`reading ${t.out.name} failed (${signal ?? `exit ${code}`}): ${stderr.trim() || 'no message'}`),
          ),
    );
  });
  exited.catch(() => undefined);
  const decoder = new StringDecoder('utf8');
  let rest = '';
  try {
    for await (const chunk of p.stdout as AsyncIterable<Buffer>) {
      const lines = (rest + decoder.write(chunk)).split('\n');
      rest = lines.pop()!;
      yield t.columns.length === 0 ? lines.map(() => []) : lines.map((l) => l.split('\t').map(copyField));
    }
    await exited;
  } finally {
    // Abandoned (the archive failed elsewhere): psql goes with it.
    if (p.exitCode === null) p.kill('SIGKILL');
  }
  if (rest + decoder.end() !== '') throw new Error(`the rows of ${t.out.name} ended inside a row`);
}

async function* csvOf(source: Source, t: Table): AsyncGenerator<string> {
  yield csvLine(
    t.columns.map((c) => c.name),
    t.columns.map(() => 'text'),
  );
  let rows = 0;
  for await (const batch of rowsOf(source, t)) {
    yield batch.map((r) => csvLine(r, t.kinds)).join('');
    rows += batch.length;
  }
  t.out.rows = rows;
}

async function* xmlOf(source: Source, t: Table, sheetRows: number): AsyncGenerator<string> {
  const perSheet = sheetRows - 1; // the header row
  let part = 1;
  let inSheet = 0;
  let cut = 0;
  yield WORKBOOK_HEAD + sheetHead(sheetName(t.name, part), t.columns);
  for await (const batch of rowsOf(source, t)) {
    let chunk = '';
    for (const row of batch) {
      if (inSheet === perSheet) {
        chunk += SHEET_TAIL + sheetHead(sheetName(t.name, ++part), t.columns);
        inSheet = 0;
      }
      chunk += '<Row>';
      for (let i = 0; i < row.length; i++) {
        const cell = xmlCell(row[i]!, t.kinds[i]!);
        if (cell.cut) cut++;
        chunk += cell.xml;
      }
      chunk += '</Row>\n';
      inSheet++;
    }
    yield chunk;
  }
  yield SHEET_TAIL + WORKBOOK_TAIL;
  t.out.worksheets = part;
  t.out.cutCells = cut;
}

/** The zip of every table, written into `sink`; resolves when all of it was read from one snapshot. */
async function zipInto(
  sink: Writable,
  encrypt: Transform,
  source: Source,
  tables: Table[],
  inner: () => object,
  opts: { mtime: Date; sheetRows: number; log: Logger },
): Promise<void> {
  const zip = new yazl.ZipFile();
  const piped = pipeline(zip.outputStream, encrypt, sink);
  piped.catch(() => undefined);
  // yazl pipes each entry without its errors: a failed read must end the archive short.
  const entry = (name: string, make: () => AsyncGenerator<string>, done?: () => void) =>
    zip.addReadStreamLazy(name, { mtime: opts.mtime }, (cb) => {
      const rs = Readable.from(make(), { objectMode: false, highWaterMark: 1 << 20 }).on('error', (err) =>
        (zip.outputStream as Readable).destroy(err),
      );
      if (done) rs.on('end', done);
      cb(null, rs);
    });
  for (const t of tables) {
    entry(t.out.csv, () => csvOf(source, t));
    entry(
      t.out.xml,
      () => xmlOf(source, t, opts.sheetRows),
      () => opts.log.info({ table: t.out.name, rows: t.out.rows, worksheets: t.out.worksheets }, 'table exported'),
    );
  }
  // Last: it counts what the tables held.
  zip.addReadStreamLazy('manifest.json', { mtime: opts.mtime }, (cb) =>
    cb(null, Readable.from([`${JSON.stringify(inner(), null, 2)}\n`])),
  );
  zip.end();
  await piped;
}

export async function runExport(job: ExportJob): Promise<ExportResult> {
  const { log } = job;
  const started = job.startedAt ?? new Date();
  const date = started.toISOString().slice(0, 10);
  const artifact = exportKey(job.workspace, date);
  if (job.destinations.length === 0) throw new Error('the workspace has no backup destination');
  if (job.recipients.length === 0) throw new Error('the export has no age recipient');
  const ca = job.database.caFile ? await readFile(job.database.caFile, 'utf8') : undefined;
  const sql = connect(job.database, ca);
  try {
    const reserved = await sql.reserve();
    try {
      const [{ server_version: serverVersion }] = (await reserved`show server_version`) as unknown as [
        { server_version: string },
      ];
      await reserved`begin isolation level repeatable read read only`;
      const [{ snapshot }] = (await reserved`select pg_export_snapshot() as snapshot`) as unknown as [
        { snapshot: string },
      ];
      const tables: Table[] = [];
      for (const t of await userTables(reserved)) {
        const columns = await columnsOf(reserved, t.schema, t.name);
        const file = entryName(t.schema, t.name);
        tables.push({
          ...t,
          columns,
          kinds: columns.map(kindOf),
          out: {
            name: `${t.schema}.${t.name}`,
            csv: `${file}.csv`,
            xml: `${file}.xml`,
            columns: columns.map((c) => ({ name: c.name, type: c.type })),
            rows: 0,
            worksheets: 0,
            cutCells: 0,
          },
        });
      }
      log.info({ artifact, tables: tables.length, serverVersion }, 'export started');
      const inner = () => ({
        format: EXPORT_FORMAT,
        workspace: job.workspace,
        date,
        database: { name: job.database.database, serverVersion },
        tables: tables.map((t) => t.out),
        startedAt: started.toISOString(),
      });
      const encrypt = await encryptStream(job.recipients);
      const { expected, stored, failed } = await distribute({
        key: artifact,
        destinations: job.destinations,
        what: 'export',
        log,
        produce: (sink) =>
          zipInto(sink, encrypt, { psql: job.psql ?? 'psql', database: job.database, snapshot }, tables, inner, {
            mtime: started,
            sheetRows: job.sheetRows ?? SHEET_ROW_LIMIT,
            log,
          }),
      });
      await reserved`commit`;
      const manifest: ExportManifest = {
        format: EXPORT_FORMAT,
        workspace: job.workspace,
        date,
        artifact,
        size: expected.size,
        sha256: expected.sha256,
        encryption: { format: 'age-encryption.org/v1', recipients: [...job.recipients] },
        database: {
          name: job.database.database,
          serverVersion,
          tables: tables.length,
          rows: tables.reduce((n, t) => n + t.out.rows, 0),
        },
        tables: tables.map((t) => t.out),
        tools: { holdfast: HOLDFAST_VERSION },
        startedAt: started.toISOString(),
        completedAt: new Date().toISOString(),
        copies: stored.map((d) => ({ destination: d.name, location: d.location(artifact) })),
      };
      const text = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
      let deleted = 0;
      let complete = 0;
      for (const d of stored) {
        try {
          await d.put(exportManifestKey(artifact), text);
        } catch (err) {
          // Without its manifest a copy is not complete: it counts as failed, and nothing is pruned there.
          failed.push({ destination: d.name, message: `manifest: ${(err as Error).message}` });
          continue;
        }
        complete++;
        deleted += await pruneExports(d, job.workspace, date, job.retentionDays, log);
      }
      if (complete === 0) throw new Error(`no manifest could be written: ${failed.at(-1)!.message}`);
      log.info(
        {
          artifact,
          size: humanSize(manifest.size),
          sha256: manifest.sha256,
          tables: manifest.database.tables,
          rows: manifest.database.rows,
          copies: `${complete}/${job.destinations.length}`,
          deleted,
        },
        'export finished',
      );
      return { manifest, failed, deleted };
    } finally {
      reserved.release();
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** What a retention of `days` drops on `today`: the exports of `days` or more days before it. */
export function expiredExports(keys: readonly string[], today: string, days: number): string[] {
  const cutoff = new Date(Date.parse(`${today}T00:00:00Z`) - days * 86_400_000).toISOString().slice(0, 10);
  return keys.filter((k) => {
    const m = EXPORTS.exec(k.slice(k.lastIndexOf('/') + 1));
    return m !== null && m[1]! <= cutoff;
  });
}

/** Deletes a destination's exports past retention (the archive before its manifest) and what interrupted uploads left. */
async function pruneExports(d: Destination, workspace: string, today: string, days: number, log: Logger) {
  try {
    const expired = expiredExports(
      (await d.list(exportFolder(workspace))).map((o) => o.key),
      today,
      days,
    ).sort((a, b) => Number(b.endsWith('.zip.age')) - Number(a.endsWith('.zip.age')));
    for (const key of expired) await d.delete(key);
    await d.cleanUp(exportFolder(workspace)).catch(() => 0);
    return expired.filter((k) => k.endsWith('.zip.age')).length;
  } catch (err) {
    log.warn({ destination: d.name, err }, 'could not prune old exports; the next export tries again');
    return 0;
  }
}
