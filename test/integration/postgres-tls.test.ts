// The harness PostgreSQL is real and speaks TLS: `postgres` connects with
// full certificate verification, and plain TCP is refused.
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type TestPostgres } from '../harness/postgres.js';

describe('harness PostgreSQL', () => {
  let pg: TestPostgres;
  beforeAll(async () => {
    pg = await startPostgres();
  });
  afterAll(async () => pg?.stop());

  it('accepts a verify-full TLS connection with the harness CA', async () => {
    const sql = postgres({
      host: pg.host,
      port: pg.port,
      user: pg.user,
      password: pg.password,
      database: 'postgres',
      ssl: { ca: pg.ca, rejectUnauthorized: true },
      max: 1,
      onnotice: () => undefined,
    });
    try {
      const [row] = await sql<{ ssl: boolean; version: string }[]>`
        select ssl, version from pg_stat_ssl where pid = pg_backend_pid()`;
      expect(row?.ssl).toBe(true);
      expect(row?.version).toMatch(/^TLSv1\.[23]$/);
    } finally {
      await sql.end();
    }
  });

  it('refuses a server certificate signed by a CA the client does not trust', async () => {
    const sql = postgres({
      host: pg.host,
      port: pg.port,
      user: pg.user,
      password: pg.password,
      database: 'postgres',
      ssl: { rejectUnauthorized: true },
      max: 1,
      connect_timeout: 5,
    });
    try {
      await expect(sql`select 1`).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
    } finally {
      await sql.end();
    }
  });

  it('refuses a connection without TLS', async () => {
    const sql = postgres({
      host: pg.host,
      port: pg.port,
      user: pg.user,
      password: pg.password,
      database: 'postgres',
      ssl: false,
      max: 1,
      connect_timeout: 5,
    });
    try {
      await expect(sql`select 1`).rejects.toThrow(/no pg_hba\.conf entry.*no encryption/);
    } finally {
      await sql.end();
    }
  });
});
