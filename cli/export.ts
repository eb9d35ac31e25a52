// holdfast export [--config FILE]: the daily export, as the `export`
// CronJob's pod runs it: every table as CSV and SpreadsheetML in one zip,
// encrypted like the backups, stored at every destination as
// <workspace>/exports/<yyyy-mm-dd>.zip.age with its manifest, then exports
// past spec.backup.export.retentionDays are deleted. Exit 0 when every
// destination has it, 3 when some copy failed (the log says which), 1 when no
// export was stored.
import { parseArgs } from 'node:util';
import { createLogger } from '../kube/log.js';
import { databaseTarget, openJob, recipientsOf } from '../operator/backup/job-config.js';
import { runExport } from '../operator/export/runner.js';

export async function run(args: string[]): Promise<number> {
  const log = createLogger('export');
  const { values } = parseArgs({ args, options: { config: { type: 'string' } } });
  const opened = await openJob(values.config, 'export', log);
  if (!opened) return 1;
  const { config, destinations } = opened;
  try {
    const { failed } = await runExport({
      workspace: config.workspace,
      database: await databaseTarget(config),
      recipients: await recipientsOf(config),
      destinations,
      retentionDays: config.exportRetentionDays,
      log,
    });
    for (const f of failed) log.error(`the copy at ${f.destination} failed: ${f.message}`);
    return failed.length > 0 ? 3 : 0;
  } catch (err) {
    log.error({ err }, `export failed: ${(err as Error).message}`);
    return 1;
  }
}
