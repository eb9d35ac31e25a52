// What a backup job is told, as one JSON file the operator writes into the
// workspace's `backup-config` ConfigMap (no secret in it: passwords and keys
// are files mounted from Secrets, named here by path).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { BACKUP_REASONS } from '../api/backup.js';
import { TIERS } from '../api/retention.js';
import { FolderDestination, S3Destination, type Destination } from './destinations.js';
import type { DatabaseTarget } from './runner.js';

export const JobConfig = z.object({
  workspace: z.string().min(1),
  namespace: z.string().min(1),
  database: z.object({
    host: z.string().min(1),
    port: z.int().default(5432),
    database: z.string().min(1),
    user: z.string().min(1),
    passwordFile: z.string().min(1),
    sslmode: z.enum(['verify-full', 'require', 'disable']).default('verify-full'),
    caFile: z.string().optional(),
  }),
  /** Files of age recipients, one per line (the workspace's own, the customer's escrow keys). */
  recipientFiles: z.array(z.string()).min(1),
  /** The workspace's own age identity, for restore drills (backup jobs do not mount it). */
  identityFile: z.string().default('/var/run/holdfast/key/identity'),
  destinations: z
    .array(
      z.object({
        name: z.string().min(1),
        s3: z
          .object({
            endpoint: z.string(),
            bucket: z.string(),
            prefix: z.string().default(''),
            region: z.string().default('us-east-1'),
            forcePathStyle: z.boolean().default(true),
            /** Holds files accessKeyId and secretAccessKey (and ca.crt when caFile is not given). */
            credentialsDir: z.string(),
            caFile: z.string().optional(),
          })
          .optional(),
        folder: z.object({ path: z.string() }).optional(),
      }),
    )
    .min(1),
  retention: z.partialRecord(z.enum(TIERS), z.int().min(0)),
  timeZone: z.string().default('UTC'),
  reason: z.enum(BACKUP_REASONS).default('Scheduled'),
  /** Daily exports older than this are deleted once a new one is stored. */
  exportRetentionDays: z.int().min(1).default(365),
});
export type JobConfig = z.output<typeof JobConfig>;

export async function loadJobConfig(file: string): Promise<JobConfig> {
  const text = await readFile(file, 'utf8').catch((err: Error) => {
    throw new Error(`cannot read the backup configuration ${file}: ${err.message}`);
  });
  const parsed = JobConfig.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new Error(
      `the backup configuration ${file} is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}

/** Where the operator mounts the job's configuration. */
export const DEFAULT_JOB_CONFIG = '/etc/holdfast/backup.json';

/**
 * The configuration and destinations of a job's pod: from `file`, else
 * HOLDFAST_BACKUP_CONFIG, else the mounted file. When they cannot be read,
 * one line in the Job's log says which file and why ("<what> not started:
 * …") and the result is undefined: nothing was started.
 */
export async function openJob(
  file: string | undefined,
  what: string,
  log: { error(msg: string): void },
): Promise<{ config: JobConfig; destinations: Destination[] } | undefined> {
  try {
    const config = await loadJobConfig(file ?? process.env.HOLDFAST_BACKUP_CONFIG ?? DEFAULT_JOB_CONFIG);
    return { config, destinations: await destinationsOf(config) };
  } catch (err) {
    log.error(`${what} not started: ${(err as Error).message}`);
    return undefined;
  }
}

const readTrimmed = async (file: string) => (await readFile(file, 'utf8')).trim();

export async function databaseTarget(c: JobConfig): Promise<DatabaseTarget> {
  const { passwordFile, ...db } = c.database;
  return { ...db, password: await readTrimmed(passwordFile) };
}

export async function recipientsOf(c: JobConfig): Promise<string[]> {
  const all: string[] = [];
  for (const f of c.recipientFiles)
    for (const line of (await readFile(f, 'utf8')).split('\n'))
      if (line.trim() && !line.startsWith('#')) all.push(line.trim());
  return [...new Set(all)];
}

/** The workspace's age identities (AGE-SECRET-KEY-1…), for drills and restores. */
export async function identitiesOf(c: JobConfig): Promise<string[]> {
  return (await readFile(c.identityFile, 'utf8'))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('AGE-SECRET-KEY-1'));
}

export async function destinationsOf(c: JobConfig): Promise<Destination[]> {
  const out: Destination[] = [];
  for (const d of c.destinations) {
    if (d.folder) out.push(new FolderDestination(d.name, d.folder.path));
    else if (d.s3) {
      const { credentialsDir, caFile, ...s3 } = d.s3;
      const ca = caFile
        ? await readFile(caFile, 'utf8')
        : await readFile(path.join(credentialsDir, 'ca.crt'), 'utf8').catch(() => undefined);
      out.push(
        new S3Destination(d.name, {
          ...s3,
          accessKeyId: await readTrimmed(path.join(credentialsDir, 'accessKeyId')),
          secretAccessKey: await readTrimmed(path.join(credentialsDir, 'secretAccessKey')),
          ...(ca ? { ca } : {}),
        }),
      );
    } else throw new Error(`backup destination ${d.name} has neither s3 nor folder`);
  }
  return out;
}
