// holdfast verify: the restore drill, as the `verify` CronJob's pod runs it.
// It takes the newest good Backup of the workspace (or --backup NAME), picks
// one of its stored copies (a different destination each week, so that every
// site is proven in turn; or --destination NAME), restores it into the
// scratch PostgreSQL beside it in the pod, compares the restored rows with the
// manifest, and records what it found on the Backup. Exit 0 when the backup
// was proven, 1 when the drill failed (the Backup and the Workspace's
// RestoreTestPassed condition say why), 0 with nothing to do when there is no
// backup yet.
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import postgres from 'postgres';
import { createLogger } from '../kube/log.js';
import { MERGE_PATCH, Rest, collectionPath, objectPath } from '../kube/rest.js';
import type { BackupResourceStatus, Verification } from '../operator/api/backup.js';
import { SCRATCH_PORT } from '../operator/backup/schedule.js';
import { identitiesOf, openJob } from '../operator/backup/job-config.js';
import { WORKSPACE_LABEL } from '../operator/backup/record.js';
import { describeMismatches, restoreArtifact } from '../operator/backup/restore.js';

const WEEK = 7 * 86_400_000;
const SCRATCH = { user: 'drill', password: 'scratch', database: 'drill' };

type BackupItem = { metadata: { name: string }; status?: BackupResourceStatus };

/** An empty database `drill` on the scratch server, once it takes connections (a moment after its sidecar starts). */
async function prepareScratch(port: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const sql = postgres({
      host: '127.0.0.1',
      port,
      username: SCRATCH.user,
      password: SCRATCH.password,
      database: 'postgres',
      max: 1,
      connect_timeout: 5,
      onnotice: () => undefined,
    });
    try {
      await sql`select 1`;
      await sql.unsafe(`drop database if exists ${SCRATCH.database}`);
      await sql.unsafe(`create database ${SCRATCH.database}`);
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`the scratch PostgreSQL on 127.0.0.1:${port} did not answer: ${(err as Error).message}`, {
          cause: err,
        });
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      await sql.end({ timeout: 1 });
    }
  }
}

export async function run(args: string[]): Promise<number> {
  const log = createLogger('verify');
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string' }, backup: { type: 'string' }, destination: { type: 'string' } },
  });
  const opened = await openJob(values.config, 'restore drill', log);
  if (!opened) return 1;
  const { config, destinations } = opened;
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const rest = new Rest(kc);
  const job = process.env.HOLDFAST_JOB_NAME || undefined;

  const list = await rest.get<{ items: BackupItem[] }>(collectionPath('Backup', config.namespace), {
    labelSelector: `${WORKSPACE_LABEL}=${config.workspace}`,
  });
  const good = list.items
    .filter((b) => b.status?.phase === 'Succeeded' && b.status.artifact && b.status.completedAt)
    .sort((a, b) => b.status!.completedAt!.localeCompare(a.status!.completedAt!));
  const backup = values.backup ? good.find((b) => b.metadata.name === values.backup) : good[0];
  if (!backup) {
    if (values.backup) {
      log.error(`backup ${values.backup} is not a Succeeded backup of workspace ${config.workspace}`);
      return 1;
    }
    log.info(`workspace ${config.workspace} has no backup yet: nothing to verify`);
    return 0;
  }
  const name = backup.metadata.name;
  const status = backup.status!;
  const record = async (v: Verification) => {
    await rest.request('PATCH', `${objectPath('Backup', name, config.namespace)}/status`, {
      contentType: MERGE_PATCH,
      body: { status: { verification: v, ...(v.passed ? { verifiedAt: v.at } : {}) } },
    });
  };

  const stored = (status.copies ?? [])
    .filter((c) => c.phase === 'Stored' && destinations.some((d) => d.name === c.destination))
    .map((c) => c.destination)
    .sort();
  const chosen = values.destination ?? stored[Math.floor(Date.now() / WEEK) % Math.max(stored.length, 1)];
  const source = destinations.find((d) => d.name === chosen);
  const started = Date.now();
  if (!source) {
    const message = `no stored copy of backup ${name} at ${chosen ?? 'any destination of the workspace'}`;
    log.error(message);
    await record({ passed: false, at: new Date().toISOString(), message, ...(job ? { job } : {}) });
    return 1;
  }
  log.info({ backup: name, destination: source.name }, 'restore drill started');
  try {
    const port = Number(process.env.HOLDFAST_SCRATCH_PORT ?? SCRATCH_PORT);
    await prepareScratch(port);
    const identities = await identitiesOf(config);
    const result = await restoreArtifact({
      workspace: config.workspace,
      artifact: status.artifact!,
      source,
      identities,
      target: { host: '127.0.0.1', port, ...SCRATCH, sslmode: 'disable' },
      log,
    });
    const rows = Object.values(result.rowCounts).reduce((a, b) => a + b, 0);
    const tables = Object.keys(result.rowCounts).length;
    const passed = result.mismatches.length === 0;
    const v: Verification = {
      passed,
      at: new Date().toISOString(),
      destination: source.name,
      tables,
      rows,
      durationSeconds: Math.round((Date.now() - started) / 100) / 10,
      contentChecked: result.contentChecked,
      message: passed
        ? `${tables} tables, ${rows} rows${result.contentChecked ? ' and their content' : ''}, as the manifest recorded; SHA-256 and every chunk checked`
        : `the restored rows differ from the manifest: ${describeMismatches(result.mismatches)}`,
      ...(job ? { job } : {}),
    };
    await record(v);
    log.info({ backup: name, ...v }, passed ? 'restore drill passed' : 'restore drill failed');
    return passed ? 0 : 1;
  } catch (err) {
    const message = (err as Error).message;
    log.error({ err, backup: name, destination: source.name }, `restore drill failed: ${message}`);
    await record({
      passed: false,
      at: new Date().toISOString(),
      destination: source.name,
      durationSeconds: Math.round((Date.now() - started) / 100) / 10,
      message,
      ...(job ? { job } : {}),
    }).catch((e: unknown) => log.error({ err: e }, 'could not record the drill on the Backup'));
    return 1;
  }
}
