// Names and the manifest of backup artifacts. The layout is a promise to the
// customer (docs: "Backup artifacts"); it must not drift:
//   <workspace>/<yyyy>/<mm>/<backup-name>.dump.age   pg_dump custom format, then age
//   <workspace>/<yyyy>/<mm>/<backup-name>.json       the manifest below

export const MANIFEST_FORMAT = 'holdfast.io/backup-manifest/v1';

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  backup: string;
  workspace: string;
  reason: string;
  /** The artifact's name at every destination. */
  artifact: string;
  size: number;
  sha256: string;
  encryption: { format: 'age-encryption.org/v1'; recipients: string[] };
  database: { name: string; serverVersion: string; tables: number; rows: number };
  /** Rows per table (schema.table), counted in the snapshot pg_dump dumped. */
  rowCounts: Record<string, number>;
  /** A digest of each table's rows, read in the same snapshot; absent in manifests of releases before it. */
  contentDigests?: { method: string; tables: Record<string, string> };
  tools: { pgDump: string; holdfast: string };
  startedAt: string;
  completedAt: string;
  /** Where each copy was stored. */
  copies: { destination: string; location: string }[];
}

/** The folder of a backup taken at `at`, in UTC: `<workspace>/<yyyy>/<mm>/`. */
export function folderOf(workspace: string, at: Date): string {
  const yyyy = String(at.getUTCFullYear());
  const mm = String(at.getUTCMonth() + 1).padStart(2, '0');
  return `${workspace}/${yyyy}/${mm}/`;
}

export function artifactKey(workspace: string, backup: string, at: Date): string {
  return `${folderOf(workspace, at)}${backup}.dump.age`;
}

export function manifestKey(artifact: string): string {
  return artifact.replace(/\.dump\.age$/, '.json');
}

/** `<workspace>-<yyyymmdd>-<hhmmss>` in UTC: sorts by time, and is a valid object name. */
export function backupName(workspace: string, at: Date): string {
  const iso = at.toISOString();
  return `${workspace}-${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}`;
}

/**
 * The Backup a CronJob's run fills in: the CronJob controller names its Jobs
 * `<cronjob>-<scheduled minute since the epoch>`, so a retried pod of the same
 * run continues the same Backup. Undefined for a Job named otherwise.
 */
export function backupNameOfJob(workspace: string, job: string | undefined): string | undefined {
  const m = /^backup-(\d{7,})$/.exec(job ?? '');
  return m ? backupName(workspace, new Date(Number(m[1]) * 60_000)) : undefined;
}

export function humanSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${bytes} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}
