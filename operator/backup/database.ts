// How backup, restore and drill jobs reach a workspace's database: with the
// `postgres` driver for their own queries, and with libpq's environment for
// pg_dump and pg_restore. TLS is verified against the workspace's CA.
import postgres from 'postgres';

export interface DatabaseTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  /** verify-full with caFile; require only where no CA is known. */
  sslmode: 'verify-full' | 'require' | 'disable';
  caFile?: string;
}

export function connect(db: DatabaseTarget, ca: string | undefined) {
  return postgres({
    host: db.host,
    port: db.port,
    database: db.database,
    username: db.user,
    password: db.password,
    max: 1,
    onnotice: () => undefined,
    connect_timeout: 15,
    ssl: db.sslmode === 'disable' ? false : db.sslmode === 'require' ? 'require' : { ca, rejectUnauthorized: true },
  });
}

/** libpq's environment for pg_dump and pg_restore: nothing of the job's own environment but PATH. */
export function libpqEnvironment(db: DatabaseTarget): Record<string, string | undefined> {
  return {
    PATH: process.env.PATH,
    PGHOST: db.host,
    PGPORT: String(db.port),
    PGDATABASE: db.database,
    PGUSER: db.user,
    PGPASSWORD: db.password,
    PGSSLMODE: db.sslmode,
    PGCONNECT_TIMEOUT: '15',
    ...(db.caFile ? { PGSSLROOTCERT: db.caFile } : {}),
  };
}

/** The user's tables (partitions included, as pg_dump dumps their rows), "schema.name" in order. */
export async function userTables(sql: postgres.Sql): Promise<{ schema: string; name: string }[]> {
  return (await sql`
    select n.nspname as schema, c.relname as name
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema')
      and n.nspname not like 'pg_toast%' and n.nspname not like 'pg_temp%'
    order by 1, 2`) as unknown as { schema: string; name: string }[];
}

/** Rows per table, "schema.name" → count, in the snapshot of the connection's transaction. */
export async function countRows(sql: postgres.Sql): Promise<Record<string, number>> {
  const rows: Record<string, number> = {};
  for (const t of await userTables(sql)) {
    const [r] = (await sql`select count(*)::bigint as n from ${sql(t.schema)}.${sql(t.name)}`) as unknown as [
      { n: string },
    ];
    rows[`${t.schema}.${t.name}`] = Number(r.n);
  }
  return rows;
}
