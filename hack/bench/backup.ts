// Benchmark: the backup pipeline against its raw baseline in the same run.
//
//   npx tsx hack/bench/backup.ts [--size-mb 1024] [--runs 3]
//
// A PostgreSQL database of at least --size-mb is made on the harness server
// (the machine's newest PostgreSQL), then, one after the other:
//   raw:      pg_dump --format=custom > /dev/null
//   pipeline: `holdfast backup` as the job runs it: the same pg_dump, row
//             counts in its snapshot, age encryption, SHA-256, multipart
//             upload to a versitygw S3 server on loopback, checked and
//             completed, manifest written.
// Both are reported in MB/s of database size, each run and the median of
// --runs alternated runs; the runner's peak RSS is sampled every 50 ms while
// it runs (it runs in this process).
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { generateIdentity, identityToRecipient } from '../../operator/backup/age-stream.js';
import { runBackup } from '../../operator/backup/runner.js';
import { jobTarget, postgresBinDir, startPostgres } from '../../test/harness/postgres.js';
import { s3Destination, startS3 } from '../../test/harness/s3.js';
import { libpqEnvironment } from '../../operator/backup/database.js';
import { makeBenchDatabase } from './database.js';
import { numberArg } from './args.js';

const SIZE_MB = numberArg('size-mb', 1024);
const RUNS = numberArg('runs', 3);
const MB = 1024 * 1024;

const pg = await startPostgres();
const s3 = await startS3();
const dir = await mkdtemp(path.join(tmpdir(), 'holdfast-bench-backup-'));
try {
  await s3.bucket('bench-backups');
  const dbMb = await makeBenchDatabase(pg, SIZE_MB);

  const pgEnv = { ...process.env, ...libpqEnvironment(jobTarget(pg, 'bench')) };
  const pgDump = path.join(postgresBinDir(), 'pg_dump');

  // Raw baseline: pg_dump alone, its output thrown away.
  const raw = async (): Promise<number> => {
    const started = process.hrtime.bigint();
    const devNull = openSync('/dev/null', 'w');
    await new Promise<void>((resolve, reject) => {
      const p = spawn(pgDump, ['--format=custom'], { env: pgEnv, stdio: ['ignore', devNull, 'inherit'] });
      p.on('error', reject);
      p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`pg_dump exit ${code}`))));
    });
    closeSync(devNull);
    return Number(process.hrtime.bigint() - started) / 1e9;
  };

  // The pipeline, to S3.
  const recipients = [await identityToRecipient(await generateIdentity())];
  let peakRss = process.memoryUsage().rss;
  const baseRss = peakRss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  let manifest: Awaited<ReturnType<typeof runBackup>>['manifest'] | undefined;
  const pipeline = async (run: number): Promise<number> => {
    const started = process.hrtime.bigint();
    ({ manifest } = await runBackup({
      workspace: 'bench',
      backup: `bench-${run}`,
      reason: 'OnDemand',
      database: jobTarget(pg, 'bench'),
      recipients,
      destinations: [s3Destination(s3, 'bench-backups', { name: 'bench' })],
      pgDump,
      log: pino({ level: 'silent' }),
    }));
    return Number(process.hrtime.bigint() - started) / 1e9;
  };

  // Alternated, so that both see the same page cache and the same neighbours; the medians are compared.
  const rate = (s: number) => dbMb / s;
  const raws: number[] = [];
  const pipes: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    raws.push(await raw());
    pipes.push(await pipeline(run));
    console.log(
      `run ${run}: raw ${raws.at(-1)!.toFixed(1)} s (${rate(raws.at(-1)!).toFixed(1)} MB/s), ` +
        `pipeline ${pipes.at(-1)!.toFixed(1)} s (${rate(pipes.at(-1)!).toFixed(1)} MB/s)`,
    );
  }
  clearInterval(sampler);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const rawS = median(raws);
  const pipeS = median(pipes);
  console.log(`median of ${RUNS}:`);
  console.log(`raw pg_dump -Fc > /dev/null:  ${rawS.toFixed(1)} s  ${rate(rawS).toFixed(1)} MB/s`);
  console.log(
    `holdfast backup to S3:        ${pipeS.toFixed(1)} s  ${rate(pipeS).toFixed(1)} MB/s  ` +
      `(artifact ${(manifest!.size / MB).toFixed(0)} MB, ${manifest!.database.rows.toLocaleString('en')} rows counted)`,
  );
  console.log(`ratio pipeline/raw: ${((rate(pipeS) / rate(rawS)) * 100).toFixed(0)}%`);
  console.log(
    `runner peak RSS: ${(peakRss / MB).toFixed(0)} MB (${((peakRss - baseRss) / MB).toFixed(0)} MB above its start)`,
  );
} finally {
  await s3.stop();
  await pg.stop();
  await rm(dir, { recursive: true, force: true });
}
