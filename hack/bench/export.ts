// Benchmark: the daily export against its raw baseline in the same run.
//
//   npx tsx hack/bench/export.ts [--size-mb 1024] [--runs 3]
//
// On a PostgreSQL database of at least --size-mb (the harness server, the
// machine's newest PostgreSQL), one after the other:
//   raw:      PostgreSQL's own `COPY (table) TO STDOUT (FORMAT csv, HEADER)`
//             of every table, read by psql and thrown away: the least work
//             that gets the data out as text;
//   holdfast: `holdfast export` to a versitygw S3 server on loopback: every
//             table read twice in one snapshot, written as CSV and as
//             SpreadsheetML, zipped, age-encrypted, uploaded and checked.
// Reported: seconds, rows/s, MB/s of database size and of archive, the
// ratio to raw, and the export's peak resident memory (which must not grow
// with the table: it reads through a cursor).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { pino } from 'pino';
import { generateIdentity, identityToRecipient } from '../../operator/backup/age-stream.js';
import { runExport } from '../../operator/export/runner.js';
import { jobTarget, postgresBinDir, startPostgres, superuserClient } from '../../test/harness/postgres.js';
import { s3Destination, startS3 } from '../../test/harness/s3.js';
import { libpqEnvironment } from '../../operator/backup/database.js';
import { makeBenchDatabase } from './database.js';
import { numberArg } from './args.js';

const SIZE_MB = numberArg('size-mb', 1024);
const RUNS = numberArg('runs', 3);
const MB = 1024 * 1024;

const pg = await startPostgres();
const s3 = await startS3();
try {
  await s3.bucket('bench-exports');
  const dbMb = await makeBenchDatabase(pg, SIZE_MB);
  const sql = superuserClient(pg, 'bench');
  const [{ n }] = (await sql`select count(*)::bigint as n from entries`) as unknown as [{ n: string }];
  await sql.end();
  const rows = Number(n);

  const raw = () =>
    new Promise<number>((resolve, reject) => {
      const started = process.hrtime.bigint();
      const p = spawn(
        path.join(postgresBinDir(), 'psql'),
        ['-X', '-q', '-c', 'copy entries to stdout (format csv, header)'],
        {
          env: { ...process.env, ...libpqEnvironment(jobTarget(pg, 'bench')) },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      p.stdout.resume();
      p.on('error', reject);
      p.on('close', (code) =>
        code === 0 ? resolve(Number(process.hrtime.bigint() - started) / 1e9) : reject(new Error(`psql exit ${code}`)),
      );
    });

  const destination = s3Destination(s3, 'bench-exports', { name: 'bench' });
  const recipients = [await identityToRecipient(await generateIdentity())];
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 200);
  let archive = 0;
  const holdfast = async (): Promise<number> => {
    const started = process.hrtime.bigint();
    const { manifest } = await runExport({
      workspace: 'bench',
      database: jobTarget(pg, 'bench'),
      recipients,
      destinations: [destination],
      retentionDays: 365,
      log: pino({ level: 'silent' }),
    });
    if (manifest.database.rows !== rows) throw new Error(`exported ${manifest.database.rows} rows of ${rows}`);
    archive = manifest.size;
    return Number(process.hrtime.bigint() - started) / 1e9;
  };

  const raws: number[] = [];
  const ours: number[] = [];
  for (let i = 1; i <= RUNS; i++) {
    raws.push(await raw());
    ours.push(await holdfast());
    console.log(`run ${i}: raw COPY csv ${raws.at(-1)!.toFixed(1)} s, holdfast export ${ours.at(-1)!.toFixed(1)} s`);
  }
  clearInterval(sampler);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const rawS = median(raws);
  const oursS = median(ours);
  const perS = (s: number) =>
    `${(rows / s).toLocaleString('en', { maximumFractionDigits: 0 })} rows/s, ${(dbMb / s).toFixed(1)} MB/s of database`;
  console.log(`median of ${RUNS}, ${rows.toLocaleString('en')} rows, database ${dbMb.toFixed(0)} MB:`);
  console.log(`raw COPY … (FORMAT csv) to nowhere:      ${rawS.toFixed(1)} s  ${perS(rawS)}`);
  console.log(
    `holdfast export (CSV + XML, zip, age, S3): ${oursS.toFixed(1)} s  ${perS(oursS)}, ` +
      `archive ${(archive / MB).toFixed(0)} MB (${(archive / MB / oursS).toFixed(1)} MB/s)`,
  );
  console.log(`ratio holdfast / raw: ${(oursS / rawS).toFixed(2)}x`);
  console.log(`peak resident memory of the exporting process: ${(peakRss / MB).toFixed(0)} MB`);
} finally {
  await Promise.all([pg.stop(), s3.stop()]);
}
