// `holdfast export` against the real peers: a PostgreSQL server with values
// of every awkward kind, a versitygw S3 server and a folder, and on the
// customer's side the age CLI, unzip, PostgreSQL's own COPY and LibreOffice
// Calc (headless), which must open the SpreadsheetML and show the database's
// values. Faults: a table the export cannot read, the database unreachable.
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, identityToRecipient } from '../../operator/backup/age-stream.js';
import type { DatabaseTarget } from '../../operator/backup/database.js';
import { FolderDestination } from '../../operator/backup/destinations.js';
import { runExport, type ExportManifest } from '../../operator/export/runner.js';
import { createDatabase, jobTarget, startPostgres, superuserClient, type TestPostgres } from '../harness/postgres.js';
import { s3Destination, startS3, type TestS3 } from '../harness/s3.js';

const run = promisify(execFile);
const log = pino({ level: 'silent' });
const BUCKET = 'holdfast-exports';
const LONG = `${'word '.repeat(8000)}end`; // 40,003 characters: more than a spreadsheet cell holds

const SCHEMA = `
create table kinds (
  id int primary key, big bigint, amount numeric(12,2), ratio float8, ok boolean, day date,
  at timestamptz, note text, doc jsonb, tags text[], raw bytea, span interval
);
insert into kinds values
  (1, 42, 1234.50, 0.25, true, '2024-02-29', '2024-01-15 10:30:00.25+02',
   E'two\\nlines, "quoted" and ; ü €', '{"a": [1, 2]}', '{x,"y z"}', '\\x00ff', '1 day 02:00:00'),
  (2, 9007199254740993, -0.01, 'NaN', false, '1899-12-31', 'infinity', '', '{}', '{}', '\\x', '-1 mons'),
  (3, null, null, null, null, null, null, null, null, null, null, null),
  (4, -7, 0, 1e-5, true, '1970-01-01', '1999-12-31 23:59:59+00', 'tab\there <b>&amp;</b>', 'null', '{NULL}', '\\x41', '00:00:01');
create table long_text (id int, body text);
insert into long_text values (1, '${LONG}');
create table entries (id int primary key, minutes int, billed boolean, day date);
insert into entries select g, g % 480, g % 2 = 0, date '2026-01-01' + g % 300 from generate_series(1, 2500) g;
create table empty_one (id int);
create table "Odd ""name""/x" ("a b" text);
insert into "Odd ""name""/x" values ('odd');
`;

describe('holdfast export', { timeout: 600_000 }, () => {
  let pg: TestPostgres;
  let s3: TestS3;
  let dir: string;
  let db: DatabaseTarget;
  let identityFile: string;
  let recipients: string[];

  const offsiteOf = () => s3Destination(s3, BUCKET, { prefix: 'holdfast/' });

  beforeAll(async () => {
    [pg, s3] = await Promise.all([startPostgres(), startS3()]);
    await s3.bucket(BUCKET);
    dir = await mkdtemp(path.join(tmpdir(), 'holdfast-export-'));
    await createDatabase(pg, 'shop', SCHEMA);
    db = jobTarget(pg, 'shop');
    const identity = await generateIdentity();
    identityFile = path.join(dir, 'key.txt');
    await writeFile(identityFile, `${identity}\n`);
    recipients = [await identityToRecipient(identity)];
  });
  afterAll(async () => {
    await Promise.all([pg?.stop(), s3?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** What a customer does: age -d, then unzip. Returns the folder of the files. */
  async function open(archive: string, into: string): Promise<string> {
    await mkdir(into, { recursive: true });
    const zip = path.join(into, 'export.zip');
    await run('age', ['-d', '-i', identityFile, '-o', zip, archive]);
    await run('unzip', ['-q', zip, '-d', path.join(into, 'files')]);
    return path.join(into, 'files');
  }

  /** LibreOffice Calc opens a SpreadsheetML file and writes each worksheet as CSV: what a person sees in it. */
  async function calc(xml: string, out: string): Promise<Map<string, string>> {
    await run(
      'soffice',
      [
        `-env:UserInstallation=file://${path.join(dir, 'lo-profile')}`,
        '--headless',
        '--convert-to',
        // comma, double quote, UTF-8, from line 1; values as stored (not as shown); every sheet
        'csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1',
        '--outdir',
        out,
        xml,
      ],
      { timeout: 120_000 },
    );
    const sheets = new Map<string, string>();
    const stem = path.basename(xml, '.xml');
    // In worksheet order: "entries" before "entries (2)".
    const names = (await readdir(out)).map((f) => f.replace(/\.csv$/, '')).sort();
    for (const f of names.map((n) => `${n}.csv`))
      if (f.startsWith(`${stem}-`))
        sheets.set(f.slice(stem.length + 1, -'.csv'.length), await readFile(path.join(out, f), 'utf8'));
    return sheets;
  }

  it('writes every table as CSV and SpreadsheetML that age, unzip, PostgreSQL and LibreOffice open as the database holds it', async () => {
    const folder = new FolderDestination('local', path.join(dir, 'local'));
    const { manifest, failed } = await runExport({
      workspace: 'shop',
      database: db,
      recipients,
      destinations: [folder, offsiteOf()],
      retentionDays: 365,
      log,
      sheetRows: 1000,
    });
    expect(failed).toEqual([]);
    const today = new Date().toISOString().slice(0, 10);
    expect(manifest.artifact).toBe(`shop/exports/${today}.zip.age`);
    expect(manifest.database).toMatchObject({ name: 'shop', tables: 5, rows: 4 + 1 + 2500 + 0 + 1 });
    const byName = Object.fromEntries(manifest.tables.map((t) => [t.name, t]));
    expect(byName['public.entries']).toMatchObject({
      rows: 2500,
      worksheets: 3,
      cutCells: 0,
      csv: 'public.entries.csv',
    });
    expect(byName['public.long_text']).toMatchObject({ rows: 1, cutCells: 1 });
    expect(byName['public.Odd "name"/x']).toMatchObject({ csv: 'public.Odd%20%22name%22%2Fx.csv', rows: 1 });
    expect(byName['public.kinds']!.columns).toContainEqual({ name: 'amount', type: 'numeric(12,2)' });

    // Both copies are the same bytes, with the manifest beside them.
    const stored = JSON.parse(
      await readFile(path.join(dir, 'local', `shop/exports/${today}.json`), 'utf8'),
    ) as ExportManifest;
    expect(stored.sha256).toBe(manifest.sha256);
    const fromS3 = path.join(dir, 'from-s3.zip.age');
    await writeFile(fromS3, (await (await offsiteOf().get(manifest.artifact)).toArray()) as Buffer[]);
    const files = await open(fromS3, path.join(dir, 'opened'));
    expect((await readdir(files)).sort()).toEqual(
      [
        'manifest.json',
        ...['empty_one', 'entries', 'kinds', 'long_text', 'Odd%20%22name%22%2Fx'].flatMap((t) => [
          `public.${t}.csv`,
          `public.${t}.xml`,
        ]),
      ].sort(),
    );
    expect(JSON.parse(await readFile(path.join(files, 'manifest.json'), 'utf8'))).toMatchObject({
      tables: manifest.tables,
    });

    // CSV: PostgreSQL's own COPY loads every file back into the very rows it was made from.
    const shop = superuserClient(pg, 'shop');
    try {
      await shop.unsafe('create schema loaded');
      for (const t of manifest.tables) {
        const table = `"${t.name.slice('public.'.length).replaceAll('"', '""')}"`;
        await shop.unsafe(`create table loaded.${table} (like public.${table})`);
        const copy = await shop.unsafe(`copy loaded.${table} from stdin with (format csv, header true)`).writable();
        await pipeline(createReadStream(path.join(files, t.csv)), copy);
        const [diff] = await shop.unsafe(`
          select (select count(*) from (select r::text from public.${table} r except all
                                        select r::text from loaded.${table} r) a) as missing,
                 (select count(*) from (select r::text from loaded.${table} r except all
                                        select r::text from public.${table} r) b) as extra,
                 (select count(*) from loaded.${table}) as loaded`);
        expect({ table: t.name, ...diff }).toEqual({ table: t.name, missing: '0', extra: '0', loaded: String(t.rows) });
      }
    } finally {
      await shop.end();
    }
    const csv = await readFile(path.join(files, 'public.kinds.csv'), 'utf8');
    expect(csv.split('\r\n')[0]).toBe('id,big,amount,ratio,ok,day,at,note,doc,tags,raw,span');
    expect(csv).toContain('\r\n2,9007199254740993,-0.01,NaN,false,1899-12-31,infinity,"",{},{},\\x,-1 mons\r\n');
    expect(csv).toContain('\r\n3,,,,,,,,,,,\r\n');
    // Compared by length and equality: a diff of 40,000 characters helps no one.
    const longCsv = await readFile(path.join(files, 'public.long_text.csv'), 'utf8');
    expect(longCsv.length).toBe(`id,body\r\n1,${LONG}\r\n`.length);
    expect(longCsv === `id,body\r\n1,${LONG}\r\n`).toBe(true);

    // SpreadsheetML: what LibreOffice Calc shows, sheet by sheet.
    const kinds = await calc(path.join(files, 'public.kinds.xml'), path.join(dir, 'calc'));
    expect([...kinds.keys()]).toEqual(['kinds']);
    expect(kinds.get('kinds')!.replaceAll('\r\n', '\n')).toBe(
      [
        'id,big,amount,ratio,ok,day,at,note,doc,tags,raw,span',
        '1,42,1234.5,0.25,TRUE,2024-02-29,2024-01-15 08:30:00,"two\nlines, ""quoted"" and ; ü €","{""a"": [1, 2]}","{x,""y z""}",\\x00ff,1 day 02:00:00',
        '2,9007199254740993,-0.01,NaN,FALSE,1899-12-31,infinity,,{},{},\\x,-1 mons',
        '3,,,,,,,,,,,',
        '4,-7,0,1e-05,TRUE,1970-01-01,1999-12-31 23:59:59,tab\there <b>&amp;</b>,null,{NULL},\\x41,00:00:01',
        '',
      ].join('\n'),
    );
    // 2,500 rows at 1,000 a worksheet (the header included): three sheets, every row once, in order.
    const entries = await calc(path.join(files, 'public.entries.xml'), path.join(dir, 'calc'));
    expect([...entries.keys()]).toEqual(['entries', 'entries (2)', 'entries (3)']);
    const lines = [...entries.values()].map((t) => t.trimEnd().split(/\r?\n/));
    expect(lines.map((l) => l.length)).toEqual([1000, 1000, 503]);
    for (const l of lines) expect(l[0]).toBe('id,minutes,billed,day');
    const rows = lines.flatMap((l) => l.slice(1));
    expect(rows.map((r) => Number(r.split(',')[0]))).toEqual(Array.from({ length: 2500 }, (_, i) => i + 1));
    expect(rows[1]).toBe('2,2,TRUE,2026-01-03');
    const long = await calc(path.join(files, 'public.long_text.xml'), path.join(dir, 'calc'));
    const shown = long.get('long_text')!.trimEnd().split(/\r?\n/)[1]!;
    expect(shown.length).toBe(`1,${LONG.slice(0, 32_767)}`.length);
    expect(shown === `1,${LONG.slice(0, 32_767)}`).toBe(true);
    const odd = await calc(path.join(files, 'public.Odd%20%22name%22%2Fx.xml'), path.join(dir, 'calc'));
    expect([...odd.entries()].map(([k, v]) => [k, v.replaceAll('\r\n', '\n')])).toEqual([
      ['Odd "name"_x', 'a b\nodd\n'],
    ]);
  });

  it('a failed export stores nothing final and deletes nothing; a good one drops exports past retentionDays', async () => {
    const root = path.join(dir, 'retention');
    const folder = new FolderDestination('local', root);
    const offsite = offsiteOf();
    const day = (ago: number) => new Date(Date.now() - ago * 86_400_000).toISOString().slice(0, 10);
    const today = day(0);
    const earlier = [day(400), day(31), day(29)].flatMap((d) => [`${d}.zip.age`, `${d}.json`]);
    await mkdir(path.join(root, 'shop/exports'), { recursive: true });
    for (const f of earlier) await writeFile(path.join(root, 'shop/exports', f), 'an earlier export');
    const listing = async () => (await readdir(path.join(root, 'shop/exports'))).sort();
    const s3Listing = async () => (await offsite.list('shop/exports/')).map((o) => o.key).sort();
    const before = await s3Listing();

    // The database unreachable: refused before anything is written.
    await expect(
      runExport({
        workspace: 'shop',
        database: { ...db, port: 1 },
        recipients,
        destinations: [folder, offsite],
        retentionDays: 30,
        log,
      }),
    ).rejects.toThrow(/ECONNREFUSED|connect/);
    expect(await listing()).toEqual(earlier.sort());

    // A table the export's role may not read: the archive stops there, and no copy is made final.
    const admin = superuserClient(pg, 'shop');
    try {
      await admin.unsafe(`
        drop schema if exists loaded cascade;
        create role exporter login password 'exporter-pw';
        grant select on all tables in schema public to exporter;
        create table secret (id int); insert into secret values (1);`);
    } finally {
      await admin.end();
    }
    const asExporter = { ...db, user: 'exporter', password: 'exporter-pw' };
    await expect(
      runExport({
        workspace: 'shop',
        database: asExporter,
        recipients,
        destinations: [folder, offsite],
        retentionDays: 30,
        log,
      }),
    ).rejects.toThrow(/permission denied for table secret/);
    expect(await listing()).toEqual(earlier.sort());
    expect(await s3Listing()).toEqual(before);

    // Readable again: stored, and retention drops the exports of 30 days ago and older at the destination.
    const fix = superuserClient(pg, 'shop');
    await fix.unsafe('grant select on secret to exporter').finally(() => fix.end());
    const { manifest, deleted } = await runExport({
      workspace: 'shop',
      database: asExporter,
      recipients,
      destinations: [folder, offsite],
      retentionDays: 30,
      log,
    });
    expect(manifest.tables.map((t) => t.name)).toContain('public.secret');
    expect(deleted).toBe(2);
    expect(await listing()).toEqual([`${day(29)}.json`, `${day(29)}.zip.age`, `${today}.json`, `${today}.zip.age`]);
    expect(await s3Listing()).toEqual(
      [
        ...before.filter((k) => !k.includes(day(400)) && !k.includes(day(31))),
        `shop/exports/${today}.json`,
        `shop/exports/${today}.zip.age`,
      ]
        .filter((k, i, all) => all.indexOf(k) === i)
        .sort(),
    );
  });
});
