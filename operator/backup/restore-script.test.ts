import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { scriptForServer } from './pg-restore.js';

// The prelude pg_restore 17 writes to a script, and the start of what follows.
const PRELUDE = `--
-- PostgreSQL database dump
--

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET transaction_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
`;
const BODY = `CREATE TABLE public.hours (id integer, note text);
COPY public.hours (id, note) FROM stdin;
1\tSET transaction_timeout = 0;
\\.
`;

/** The script through the filter, in chunks of `size` bytes. */
const through = (version: number, size: number) => {
  const all = Buffer.from(PRELUDE + BODY);
  const chunks = Array.from({ length: Math.ceil(all.length / size) }, (_, i) => all.subarray(i * size, (i + 1) * size));
  return text(Readable.from(chunks).pipe(scriptForServer(version)));
};

describe('scriptForServer', () => {
  it('drops transaction_timeout from the prelude for a server before 17, however the script is cut', async () => {
    for (const size of [1, 7, 64, 100_000])
      expect(await through(150004, size)).toBe(PRELUDE.replace('SET transaction_timeout = 0;\n', '') + BODY);
  });

  it('passes the script unchanged to PostgreSQL 17 and later, and never touches the rows', async () => {
    expect(await through(170002, 13)).toBe(PRELUDE + BODY);
    expect(await through(160000, 100_000)).toContain('1\tSET transaction_timeout = 0;\n');
  });
});
