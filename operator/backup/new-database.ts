// A restore into a new database on the built-in Dedicated server: the Job
// makes the database as the server's superuser (the application role may
// not create one), owned by the application role, closed to PUBLIC, and
// marked with the Restore that made it, so that a retry of the same Restore
// takes it again and nothing else does.
import { readFile } from 'node:fs/promises';
import { connect, reachable, type DatabaseTarget } from './database.js';

/** The built-in server's superuser (operator/workspace/database/dedicated.ts). */
export const BUILTIN_SUPERUSER = 'postgres';
const SAFE_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

export function restoreMark(restore: { name: string; uid: string }): string {
  return `holdfast.io/restore=${restore.name} uid=${restore.uid}`;
}

/**
 * Makes `database` on `app`'s server, owned by `app.user`, as the superuser
 * whose password is in `superuserPasswordFile`. A database of that name made
 * by this same Restore (marked, or unmarked and owned by `app.user`: a crash
 * between CREATE DATABASE and its COMMENT) is taken again, marked and closed
 * (restoreArtifact refuses it unless empty); any other is refused, and
 * nothing is changed.
 */
export async function createRestoreDatabase(
  app: DatabaseTarget,
  database: string,
  superuserPasswordFile: string,
  restore: { name: string; uid: string },
): Promise<void> {
  if (!SAFE_IDENTIFIER.test(database)) throw new Error(`${database} is not a database name Holdfast makes`);
  const password = (await readFile(superuserPasswordFile, 'utf8')).trim();
  const ca = app.caFile ? await readFile(app.caFile, 'utf8') : undefined;
  const sql = connect({ ...app, user: BUILTIN_SUPERUSER, password, database: 'postgres' }, ca);
  const mark = restoreMark(restore);
  try {
    await reachable(sql);
    const [have] = await sql<{ comment: string | null; owner: string }[]>`
      select shobj_description(oid, 'pg_database') as comment, pg_get_userbyid(datdba) as owner
      from pg_database where datname = ${database}`;
    if (have && (have.comment ? have.comment !== mark : have.owner !== app.user))
      throw new Error(
        `database ${database} already exists on the workspace's server and this Restore did not make it: name another in spec.newDatabase`,
      );
    if (!have) await sql`create database ${sql(database)} owner ${sql(app.user)}`;
    await sql`comment on database ${sql(database)} is ${sql.unsafe(`'${mark.replace(/'/g, "''")}'`)}`;
    await sql`revoke all on database ${sql(database)} from public`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
