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

/** Connection errors a new pod sees while the network is still being set up for it. */
const NOT_YET = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'CONNECT_TIMEOUT', 'EAI_AGAIN']);

/**
 * Until the database answers, for at most `withinMs`. A job's pod may start
 * before the cluster's network policy lets it through (kube-router and
 * Calico add a new pod to their allow-lists a few seconds after it starts,
 * refusing it meanwhile); only such connection errors are retried, anything
 * else (a wrong password, a refused certificate) fails at once.
 */
export async function reachable(
  sql: postgres.Sql,
  log?: { warn(obj: object, msg: string): void },
  withinMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (let attempt = 1; ; attempt++) {
    try {
      await sql`select 1`;
      return;
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (!NOT_YET.has(code) || Date.now() >= deadline) throw err;
      if (attempt === 1) log?.warn({ err: String(err) }, 'the database does not answer yet; trying again for 90 s');
      await new Promise((r) => setTimeout(r, Math.min(500 * attempt, 3_000)));
    }
  }
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

/**
 * How a table's content is summed up: each row as text, in the settings
 * below (so that the same rows give the same text on any server), hashed by
 * PostgreSQL's hashtextextended (the 64-bit hash behind hash partitioning,
 * which every major keeps as it was; MD5 would cost twice as much and is
 * refused by servers in FIPS mode); the digest is the sum of the hashes.
 * The sum does not depend on the rows' order, so a restored table gives the
 * same digest as the table it was dumped from, and any changed, lost or
 * added row changes it.
 */
export const DIGEST_METHOD = 'holdfast.io/row-hash-sum64/v1';
const FIXED_TEXT = [
  "set local timezone = 'UTC'",
  "set local datestyle = 'ISO, YMD'",
  "set local intervalstyle = 'postgres'",
  'set local extra_float_digits = 1',
  "set local bytea_output = 'hex'",
  "set local lc_monetary = 'C'",
];

export interface TableContents {
  /** Rows per table, "schema.name" → count. */
  rows: Record<string, number>;
  /** Content digest per table ({@link DIGEST_METHOD}). */
  digests: Record<string, string>;
}

/** Rows and a content digest per table, in the snapshot of the caller's transaction (which it must be in). */
export async function readContents(sql: postgres.Sql): Promise<TableContents> {
  for (const statement of FIXED_TEXT) await sql.unsafe(statement);
  const out: TableContents = { rows: {}, digests: {} };
  for (const t of await userTables(sql)) {
    const [r] = (await sql`
      select count(*)::bigint as n,
             coalesce(sum(hashtextextended(r::text, 0)), 0)::text as digest
      from ${sql(t.schema)}.${sql(t.name)} r`) as unknown as [{ n: string; digest: string }];
    out.rows[`${t.schema}.${t.name}`] = Number(r.n);
    out.digests[`${t.schema}.${t.name}`] = r.digest;
  }
  return out;
}

/** Rows and content of a database, read in one transaction of their own. */
export async function readDatabaseContents(sql: postgres.Sql): Promise<TableContents> {
  // A transaction's handle queries as the pool's does; its type lacks only the pool's own methods.
  return sql.begin<TableContents>('isolation level repeatable read read only', (tx) =>
    readContents(tx as unknown as postgres.Sql),
  );
}
