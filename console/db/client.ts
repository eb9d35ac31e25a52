// Opens the console database: PostgreSQL through `postgres` when a URL is
// given, else embedded PGlite persisted in a data directory. Migrations are
// applied on open, so a new version of the console upgrades its own schema.
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import * as schema from './schema.js';

export type ConsoleDb = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface OpenedDb {
  db: ConsoleDb;
  kind: 'postgres' | 'pglite';
  /** A cheap round trip, for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The committed migrations, found both from the sources and from dist/. */
export function migrationsFolder(): string {
  const candidates = [
    path.resolve(import.meta.dirname, 'migrations'),
    path.resolve(import.meta.dirname, '../../../console/db/migrations'),
  ];
  const found = candidates.find((dir) => existsSync(path.join(dir, 'meta/_journal.json')));
  if (!found) throw new Error(`console database migrations not found (looked in ${candidates.join(', ')})`);
  return found;
}

export async function openDatabase(options: { url?: string; dataDir?: string }): Promise<OpenedDb> {
  const migrations = migrationsFolder();
  if (options.url) {
    const { default: postgres } = await import('postgres');
    const { drizzle } = await import('drizzle-orm/postgres-js');
    const { migrate } = await import('drizzle-orm/postgres-js/migrator');
    const { url, ssl } = await rootCertificate(options.url);
    const client = postgres(url, { max: 10, onnotice: () => {}, ...(ssl ? { ssl } : {}) });
    const db = drizzle(client, { schema });
    await migrate(db, { migrationsFolder: migrations });
    return {
      db: db as unknown as ConsoleDb,
      kind: 'postgres',
      ping: async () => {
        await client`select 1`;
      },
      close: () => client.end({ timeout: 5 }),
    };
  }
  if (!options.dataDir)
    throw new Error('set DATABASE_URL, or a data directory for the embedded database (HOLDFAST_CONSOLE_DATA)');
  await mkdir(options.dataDir, { recursive: true });
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const { migrate } = await import('drizzle-orm/pglite/migrator');
  const client = new PGlite(options.dataDir);
  const db = drizzle(client, { schema });
  await migrate(db, { migrationsFolder: migrations });
  return {
    db: db as unknown as ConsoleDb,
    kind: 'pglite',
    ping: async () => {
      await client.query('select 1');
    },
    close: () => client.close(),
  };
}

/**
 * libpq's `sslrootcert=FILE`, the usual way to name a private CA in a
 * DATABASE_URL. postgres.js does not read it (it passes it on to the server
 * as a setting, which the server refuses), so the CA is loaded here.
 */
export async function rootCertificate(
  url: string,
): Promise<{ url: string; ssl?: { ca: string; rejectUnauthorized: true; checkServerIdentity?: () => undefined } }> {
  if (!url.includes('sslrootcert=')) return { url };
  const parsed = new URL(url);
  const file = parsed.searchParams.get('sslrootcert');
  const mode = parsed.searchParams.get('sslmode');
  if (!file || file === 'system') return { url };
  parsed.searchParams.delete('sslrootcert');
  if (mode !== 'verify-full' && mode !== 'verify-ca' && mode !== 'require') return { url: parsed.toString() };
  const ca = await readFile(file, 'utf8').catch((err: unknown) => {
    throw new Error(`cannot read the CA certificate that sslrootcert names in DATABASE_URL (${file}): ${String(err)}`);
  });
  // As in libpq, only verify-full checks the host name; require with a CA means verify-ca.
  return {
    url: parsed.toString(),
    ssl: { ca, rejectUnauthorized: true, ...(mode === 'verify-full' ? {} : { checkServerIdentity: () => undefined }) },
  };
}
