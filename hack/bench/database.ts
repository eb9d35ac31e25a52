// The benchmarks' database: rows like a time-tracking database's (ids,
// times, a little text, some JSON), made on a harness PostgreSQL until it is
// at least sizeMb, in database "bench".
import { superuserClient, type TestPostgres } from '../../test/harness/postgres.js';

const MB = 1024 * 1024;

/** Makes database "bench" of at least sizeMb; returns its size in MB. */
export async function makeBenchDatabase(pg: TestPostgres, sizeMb: number): Promise<number> {
  const connect = (database: string) => superuserClient(pg, database);
  const admin = connect('postgres');
  await admin.unsafe('create database bench');
  await admin.end();
  const sql = connect('bench');
  // Rows like a time-tracking database's: ids, times, a little text, some JSON.
  await sql.unsafe(`create table entries (
    id bigserial primary key, person int, project int, started timestamptz, minutes int,
    note text, tags text[], extra jsonb)`);
  const made = Date.now();
  for (;;) {
    const [{ bytes }] = (await sql`select pg_database_size('bench')::bigint as bytes`) as unknown as [
      { bytes: string },
    ];
    if (Number(bytes) >= sizeMb * MB) break;
    await sql.unsafe(`insert into entries (person, project, started, minutes, note, tags, extra)
      select g % 500, g % 97, now() - (g || ' minutes')::interval, g % 480,
             'worked on ' || md5(g::text) || ' ' || md5(random()::text),
             array['billable', 'p' || g % 97], jsonb_build_object('client', md5((g % 1000)::text), 'rate', g % 150)
      from generate_series(1, 500000) g`);
  }
  await sql.unsafe('vacuum analyze entries');
  const [{ bytes: dbBytes }] = (await sql`select pg_database_size('bench')::bigint as bytes`) as unknown as [
    { bytes: string },
  ];
  const [{ n: rows }] = (await sql`select count(*)::bigint as n from entries`) as unknown as [{ n: string }];
  await sql.end();
  const dbMb = Number(dbBytes) / MB;
  console.log(
    `database: ${dbMb.toFixed(0)} MB, ${Number(rows).toLocaleString('en')} rows (made in ${((Date.now() - made) / 1000).toFixed(0)} s)`,
  );

  return dbMb;
}
