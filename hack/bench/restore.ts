// Benchmark: restoring a backup against its raw baseline in the same run.
//
//   npx tsx hack/bench/restore.ts [--size-mb 1024] [--runs 3]
//
// A PostgreSQL database of at least --size-mb is made on the harness server
// (the machine's newest PostgreSQL) and backed up twice: once by `pg_dump
// --format=custom` to a plain file, once by `holdfast backup` to a versitygw
// S3 server on loopback. Then, one after the other, into a new empty
// database each time:
//   raw:      pg_restore of the plain file
//   holdfast: what a restore drill runs: the artifact streamed from S3,
//             SHA-256 and every age chunk checked, into the same pg_restore,
//             and the restored rows counted against the manifest.
//   in place: what a Restore runs: the same artifact over a database of the
//             same data owned by a workspace-like role (not a superuser), in
//             one transaction that drops what the role owns first, through
//             pg_restore's script into psql, rows counted.
// Both run pg_restore with the same flags (--no-owner --no-privileges
// --exit-on-error --single-transaction). Reported in MB/s of database size,
// each run and the median of --runs alternated runs.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { generateIdentity, identityToRecipient } from '../../operator/backup/age-stream.js';
import { restoreArtifact, restoreInPlace } from '../../operator/backup/restore.js';
import { runBackup, type DatabaseTarget } from '../../operator/backup/runner.js';
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
const dir = await mkdtemp(path.join(tmpdir(), 'holdfast-bench-backup-'));
try {
  await s3.bucket('bench-backups');
  const dbMb = await makeBenchDatabase(pg, SIZE_MB);

  const pgEnv = { ...process.env, ...libpqEnvironment(jobTarget(pg, 'bench')) };
  const target = (database: string): DatabaseTarget => jobTarget(pg, database);
  const bin = (tool: string) => path.join(postgresBinDir(), tool);
  const run = (tool: string, args: string[], database: string) =>
    new Promise<void>((resolve, reject) => {
      const p = spawn(bin(tool), args, {
        env: { ...pgEnv, PGDATABASE: database },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      p.on('error', reject);
      p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${tool} exit ${code}`))));
    });
  const fresh = async (name: string) => {
    const admin = superuserClient(pg, 'postgres');
    await admin.unsafe(`drop database if exists ${name}`);
    await admin.unsafe(`create database ${name}`);
    await admin.end();
  };
  const drop = async (name: string) => {
    const admin = superuserClient(pg, 'postgres');
    await admin.unsafe(`drop database if exists ${name}`);
    await admin.end();
  };

  // The two backups: a plain archive on disk, and Holdfast's artifact in S3.
  const plain = path.join(dir, 'bench.dump');
  await run('pg_dump', ['--format=custom', '-f', plain], 'bench');
  const destination = s3Destination(s3, 'bench-backups', { name: 'bench' });
  const identity = await generateIdentity();
  const { manifest } = await runBackup({
    workspace: 'bench',
    backup: 'bench-restore',
    reason: 'OnDemand',
    database: target('bench'),
    recipients: [await identityToRecipient(identity)],
    destinations: [destination],
    pgDump: bin('pg_dump'),
    log: pino({ level: 'silent' }),
  });

  const flags = ['--no-owner', '--no-privileges', '--exit-on-error', '--single-transaction'];
  const raw = async (n: number): Promise<number> => {
    const db = `raw_${n}`;
    await fresh(db);
    const started = process.hrtime.bigint();
    await run('pg_restore', [...flags, '-d', db, plain], db);
    const s = Number(process.hrtime.bigint() - started) / 1e9;
    await drop(db);
    return s;
  };
  const holdfast = async (n: number): Promise<number> => {
    const db = `holdfast_${n}`;
    await fresh(db);
    const started = process.hrtime.bigint();
    const result = await restoreArtifact({
      workspace: 'bench',
      artifact: manifest.artifact,
      source: destination,
      identities: [identity],
      target: target(db),
      pgRestore: bin('pg_restore'),
      log: pino({ level: 'silent' }),
    });
    const s = Number(process.hrtime.bigint() - started) / 1e9;
    if (result.mismatches.length > 0) throw new Error(`restored rows differ: ${JSON.stringify(result.mismatches)}`);
    await drop(db);
    return s;
  };

  // A workspace's database: owned by its role, holding the data already.
  const admin = superuserClient(pg, 'postgres');
  await admin.unsafe(`drop database if exists inplace`);
  await admin.unsafe(`drop role if exists bench_owner`);
  await admin.unsafe(`create role bench_owner login password 'bench-owner'`);
  await admin.unsafe(`create database inplace owner bench_owner`);
  await admin.end();
  const owner: DatabaseTarget = { ...target('inplace'), user: 'bench_owner', password: 'bench-owner' };
  await restoreArtifact({
    workspace: 'bench',
    artifact: manifest.artifact,
    source: destination,
    identities: [identity],
    target: owner,
    pgRestore: bin('pg_restore'),
    log: pino({ level: 'silent' }),
  });
  const inPlace = async (): Promise<number> => {
    const started = process.hrtime.bigint();
    const result = await restoreInPlace({
      workspace: 'bench',
      artifact: manifest.artifact,
      source: destination,
      identities: [identity],
      target: owner,
      pgRestore: bin('pg_restore'),
      psql: bin('psql'),
      log: pino({ level: 'silent' }),
    });
    const s = Number(process.hrtime.bigint() - started) / 1e9;
    if (result.mismatches.length > 0) throw new Error(`restored rows differ: ${JSON.stringify(result.mismatches)}`);
    return s;
  };

  const rate = (s: number) => dbMb / s;
  const raws: number[] = [];
  const ours: number[] = [];
  const inPlaces: number[] = [];
  for (let n = 1; n <= RUNS; n++) {
    raws.push(await raw(n));
    ours.push(await holdfast(n));
    inPlaces.push(await inPlace());
    console.log(
      `run ${n}: raw ${raws.at(-1)!.toFixed(1)} s (${rate(raws.at(-1)!).toFixed(1)} MB/s), ` +
        `holdfast ${ours.at(-1)!.toFixed(1)} s (${rate(ours.at(-1)!).toFixed(1)} MB/s), ` +
        `in place ${inPlaces.at(-1)!.toFixed(1)} s (${rate(inPlaces.at(-1)!).toFixed(1)} MB/s)`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const rawS = median(raws);
  const oursS = median(ours);
  console.log(`median of ${RUNS}:`);
  console.log(`raw pg_restore of a plain dump:        ${rawS.toFixed(1)} s  ${rate(rawS).toFixed(1)} MB/s`);
  console.log(
    `holdfast restore from S3, checked:     ${oursS.toFixed(1)} s  ${rate(oursS).toFixed(1)} MB/s  ` +
      `(artifact ${(manifest.size / MB).toFixed(0)} MB, ${manifest.database.rows.toLocaleString('en')} rows counted)`,
  );
  const inPlaceS = median(inPlaces);
  console.log(`holdfast restore in place, one tx:    ${inPlaceS.toFixed(1)} s  ${rate(inPlaceS).toFixed(1)} MB/s`);
  console.log(`ratio holdfast/raw time: ${(oursS / rawS).toFixed(2)}x (goal <= 1.10x)`);
  console.log(`ratio in place/raw time: ${(inPlaceS / rawS).toFixed(2)}x`);
} finally {
  await s3.stop();
  await pg.stop();
  await rm(dir, { recursive: true, force: true });
}
