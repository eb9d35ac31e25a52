// The audit log as an auditor meets it: every change made through the
// console is an entry of one hash chain; the export ends with a statement of
// the log's size and head signed by the console's key, and passes
// `holdfast audit verify --public-key KEY`; an export cut short, cut to a
// suffix, rewritten or re-signed does not, and the database refuses to
// change or remove entries. On the embedded PGlite and on a real PostgreSQL.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENESIS, canonicalJson, entryHash, type ChainedEntry } from '../../console/audit/chain.js';
import { HEAD_TYPE, publicKeyText, signHead, type HeadStatement } from '../../console/audit/head.js';
import { newTotpSecret } from '../../console/auth/totp.js';
import { AuditLog } from '../../console/audit/service.js';
import { auditLog } from '../../console/db/schema.js';
import {
  ConsoleApi,
  TEST_CLIENT,
  firstSignIn,
  signIn,
  startConsole,
  stopConsolePostgres,
  strongPassword,
  type ConsoleDatabase,
  type TestConsole,
} from '../harness/console.js';

const repo = path.resolve(import.meta.dirname, '../..');

/** `holdfast audit verify FILE [--public-key KEY]`, as an auditor runs it: its exit code and what it prints. */
function auditVerify(file: string, publicKey?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = ['--import', 'tsx', 'cli/main.ts', 'audit', 'verify', file];
  if (publicKey) args.push('--public-key', publicKey);
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: repo }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

const root = { id: 'x', name: '', role: 'platform-admin' as const, tenantId: null };
async function collect(lines: AsyncIterable<string>): Promise<string> {
  let text = '';
  for await (const line of lines) text += line;
  return text;
}

const lines = (jsonl: string) => jsonl.trim().split('\n');
/** The entries of an export, without its closing statement. */
const parse = (jsonl: string) =>
  lines(jsonl)
    .slice(0, -1)
    .map((line) => JSON.parse(line) as ChainedEntry);
const statementOf = (jsonl: string) => JSON.parse(lines(jsonl).at(-1)!) as HeadStatement;
/** Entries as the console writes them, with every hash from the first one on recomputed. */
function rehashed(entries: ChainedEntry[]): string[] {
  const out: ChainedEntry[] = [];
  for (const { hash: _h, ...entry } of entries) {
    const unhashed = { ...entry, prevHash: out.at(-1)?.hash ?? GENESIS };
    out.push({ ...unhashed, hash: entryHash(unhashed) });
  }
  return out.map((e) => JSON.stringify(e));
}

afterAll(async () => {
  await stopConsolePostgres();
});

describe.each<ConsoleDatabase>(['pglite', 'postgres'])('audit log on %s', (database) => {
  let hf: TestConsole;
  let admin: ConsoleApi;
  let dir: string;
  let tenantAdminId: string;
  const oidcSecret = `client-secret-${Math.random().toString(36).slice(2)}`;

  beforeAll(async () => {
    hf = await startConsole({ database, ownRole: true });
    dir = await mkdtemp(path.join(tmpdir(), 'holdfast-audit-'));
  });
  afterAll(async () => {
    await hf?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function exportLog(): Promise<string> {
    const res = await admin.get<string>('/api/audit/export');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(res.headers.get('content-disposition')).toMatch(
      /^attachment; filename="holdfast-audit-\d{4}-\d\d-\d\d\.jsonl"$/,
    );
    return res.body;
  }

  async function exportFile(name: string, jsonl?: string): Promise<string> {
    const file = path.join(dir, name);
    await writeFile(file, jsonl ?? (await exportLog()));
    return file;
  }

  it('records every change made through the console in one chain', async () => {
    const adminPassword = strongPassword();
    admin = new ConsoleApi(hf, await firstSignIn(hf, hf.bootstrap.email, hf.bootstrap.oneTimePassword, adminPassword));
    expect((await admin.post('/api/tenants', { id: 'a', displayName: 'Tenant A' })).status).toBe(201);
    const patched = await admin.patch('/api/tenants/a', {
      displayName: 'Tenant A2',
      oidc: { issuer: 'https://login.example.com', clientId: 'holdfast', clientSecret: oidcSecret },
    });
    expect(patched.status).toBe(200);
    const added = await admin.post<{ user: { id: string }; oneTimePassword: string }>('/api/tenants/a/users', {
      email: 'admin@a.test',
      role: 'tenant-admin',
    });
    expect(added.status).toBe(201);
    tenantAdminId = added.body.user.id;
    const password = strongPassword();
    await firstSignIn(hf, 'admin@a.test', added.body.oneTimePassword, password);

    for (let i = 0; i < 5; i++) await hf.services.signIn.password('admin@a.test', 'Wrong-password-1', TEST_CLIENT);
    await hf.services.signIn.password('nobody@a.test', 'Wrong-password-1', TEST_CLIENT);
    expect((await admin.post(`/api/users/${tenantAdminId}/unlock`)).status).toBe(204);
    const session = await signIn(hf, 'admin@a.test', password);
    const secret = newTotpSecret();
    const user = (await hf.services.sessions.resolve(session.token))!.user;
    const enrolled = await hf.services.signIn.enrolTotp(
      user,
      secret,
      await generate({ secret }),
      TEST_CLIENT,
      session.token,
      password,
    );
    if (!enrolled.ok) throw new Error(enrolled.message);
    const pending = await signIn(hf, 'admin@a.test', password);
    const recovered = await hf.services.signIn.secondFactor(
      (await hf.services.sessions.resolve(pending.token))!.user,
      enrolled.recoveryCodes[0]!,
      TEST_CLIENT,
      pending.token,
    );
    expect(recovered).toMatchObject({ ok: true, stage: 'active' });

    const text = await exportLog();
    expect(text).not.toContain(oidcSecret);
    const entries = parse(text);
    expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
    expect(entries[0]).toMatchObject({
      action: 'bootstrap.admin-created',
      actor: 'console',
      prevHash: GENESIS,
      after: { email: hf.bootstrap.email, role: 'platform-admin' },
    });
    for (const [i, entry] of entries.entries()) {
      if (i > 0) expect(entry.prevHash).toBe(entries[i - 1]!.hash);
      expect(entry.hash).toBe(entryHash(entry));
    }

    const admin0 = hf.bootstrap.email;
    const who = (action: string, target?: string) =>
      entries
        .filter((e) => e.action === action && (target === undefined || e.target === target))
        .map((e) => ({ actor: e.actor, tenantId: e.tenantId, after: e.after, before: e.before }));
    const ta = `user/${tenantAdminId}`;
    expect(who('password.changed').map((e) => e.actor)).toEqual([admin0, 'admin@a.test']);
    expect(who('tenant.created')).toEqual([
      { actor: admin0, tenantId: 'a', before: null, after: { id: 'a', displayName: 'Tenant A' } },
    ]);
    expect(who('tenant.updated')).toEqual([
      {
        actor: admin0,
        tenantId: 'a',
        before: { displayName: 'Tenant A', oidc: null, oidcClientSecret: null },
        after: {
          displayName: 'Tenant A2',
          oidc: { issuer: 'https://login.example.com', clientId: 'holdfast' },
          oidcClientSecret: '[redacted]',
        },
      },
    ]);
    expect(who('user.created', ta)).toEqual([
      { actor: admin0, tenantId: 'a', before: null, after: { email: 'admin@a.test', role: 'tenant-admin' } },
    ]);
    expect(who('sign-in.failed', ta).map((e) => e.after)).toEqual(
      [1, 2, 3, 4, 5].map((failures) => ({ factor: 'password', failures })),
    );
    expect(who('sign-in.failed', 'console')).toEqual([
      // What was typed for an account that does not exist is kept only as a keyed hash.
      {
        actor: expect.stringMatching(/^unknown:[\w-]{16}$/) as string,
        tenantId: null,
        before: null,
        after: { reason: 'unknown account' },
      },
    ]);
    expect(who('user.locked', ta)).toEqual([
      {
        actor: 'console',
        tenantId: 'a',
        before: null,
        after: { failures: 5, lockedUntil: expect.any(String) as string },
      },
    ]);
    expect(who('user.unlocked', ta)).toEqual([
      { actor: admin0, tenantId: 'a', before: { lockedUntil: expect.any(String) as string }, after: null },
    ]);
    expect(who('totp.enabled', ta)).toHaveLength(1);
    expect(who('recovery-code.used', ta)).toHaveLength(1);
    expect(who('sign-in.second-factor', ta)).toHaveLength(1);
    expect(who('sign-in', ta).map((e) => e.after)).toEqual([
      { method: 'password' },
      { method: 'password' },
      { method: 'totp' },
      { method: 'recovery code' },
    ]);
    expect(entries.at(-1)).toMatchObject({
      action: 'audit.exported',
      actor: admin0,
      target: 'audit-log',
      tenantId: null,
    });

    // What the console shows is the same chain.
    const shown = (await admin.get<{ items: ChainedEntry[] }>('/api/audit?pageSize=200')).body.items;
    expect(shown.map((e) => e.hash).reverse()).toEqual(entries.map((e) => e.hash));
  });

  it('publishes its signing key and ends the export with the log size and head, signed with it', async () => {
    const published = await admin.get<{ publicKey: string }>('/api/audit/public-key');
    expect(published.status).toBe(200);
    expect(published.body.publicKey).toMatch(/^ed25519:[A-Za-z0-9_-]{43}$/);
    expect((await new ConsoleApi(hf).get('/api/audit/public-key')).status).toBe(401);
    const text = await exportLog();
    const entries = parse(text);
    expect(statementOf(text)).toEqual({
      type: HEAD_TYPE,
      entries: entries.length,
      head: entries.at(-1)!.hash,
      signedAt: expect.any(String) as string,
      publicKey: published.body.publicKey,
      signature: expect.stringMatching(/^[A-Za-z0-9_-]{86}$/) as string,
    });
  });

  it('passes holdfast audit verify as exported, against the pinned key', async () => {
    const publicKey = await hf.services.audit.publicKey();
    const text = await exportLog();
    const entries = parse(text);
    const result = await auditVerify(await exportFile('intact.jsonl', text), publicKey);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      `audit log intact: ${entries.length} entries (1–${entries.length}, ${entries[0]!.at} to ${entries.at(-1)!.at}), last hash ${entries.at(-1)!.hash}\n` +
        `signed by the pinned key ${publicKey} at ${statementOf(text).signedAt}\n`,
    );
  });

  /**
   * Verifies an export changed by `change` against the console's key and
   * expects it refused: `problem` is what follows "audit log BROKEN: ", or a
   * pattern for the whole output.
   */
  async function expectRefused(name: string, change: (text: string) => string, problem: string | RegExp) {
    const text = change(await exportLog());
    const result = await auditVerify(await exportFile(name, text), await hf.services.audit.publicKey());
    expect(result.code).toBe(1);
    if (typeof problem === 'string') expect(result.stdout).toBe(`audit log BROKEN: ${problem}\n`);
    else expect(result.stdout).toMatch(problem);
  }

  it('finds a field changed in one line of the export', async () => {
    const entries = parse(await exportLog());
    const target = entries.find((e) => e.action === 'tenant.updated')!;
    await expectRefused(
      'changed.jsonl',
      (text) =>
        lines(text)
          .map((line, i) =>
            entries[i]?.seq === target.seq
              ? JSON.stringify({ ...target, after: { ...(target.after as object), displayName: 'Someone else' } })
              : line,
          )
          .join('\n'),
      new RegExp(
        `^audit log BROKEN at entry ${target.seq}: entry ${target.seq} was altered after it was written \\(its content does not match its hash\\)\n$`,
      ),
    );
  });

  it('finds a line deleted from the export', async () => {
    await expectRefused(
      'deleted.jsonl',
      (text) => lines(text).toSpliced(4, 1).join('\n'),
      /^audit log BROKEN at entry 6: entry 5 is missing \(found 6 after 4\)\n$/,
    );
  });

  it('refuses an empty file', async () => {
    await expectRefused(
      'empty.jsonl',
      () => '',
      'the file holds no audit export (it is empty): export the log again from the console',
    );
  });

  it('refuses an export cut short at the end of a line', async () => {
    await expectRefused(
      'cut.jsonl',
      (text) => lines(text).slice(0, -3).join('\n'),
      /^audit log BROKEN: the export does not end with the console's signed statement: it was cut off after entry \d+\n$/,
    );
  });

  it('refuses an export cut short inside a line', async () => {
    await expectRefused(
      'cut-in-line.jsonl',
      (text) => text.slice(0, text.length - 200),
      /^audit log BROKEN: line \d+ is not JSON \(the export was cut off or changed\)\n$/,
    );
  });

  it('refuses an export with its last entries cut out before the statement, which says how many there were', async () => {
    await expectRefused(
      'cut-before-statement.jsonl',
      (text) => lines(text).toSpliced(-3, 2).join('\n'),
      /^audit log BROKEN: the console signed a log of (\d+) entries and the export holds \d+: it was cut short\n$/,
    );
  });

  it('refuses a suffix of the log', async () => {
    await expectRefused(
      'suffix.jsonl',
      (text) => lines(text).slice(3).join('\n'),
      /^audit log BROKEN at entry 4: the export starts at entry 4, not at entry 1: it is not the whole log\n$/,
    );
  });

  it('refuses an entry edited with every later hash recomputed', async () => {
    await expectRefused(
      'rehashed.jsonl',
      (text) => {
        const entries = parse(text).map((e) =>
          e.action === 'user.unlocked' ? { ...e, actor: 'someone-else@a.test' } : e,
        );
        return [...rehashed(entries), lines(text).at(-1)!].join('\n');
      },
      /^audit log BROKEN: the last entry's hash [0-9a-f]{64} is not the head the console signed \([0-9a-f]{64}\): the log was rewritten\n$/,
    );
  });

  it('refuses a duplicate key, even one the parser would drop', async () => {
    await expectRefused(
      'duplicate.jsonl',
      (text) =>
        lines(text)
          .map((line, i) => (i === 2 ? line.replace('{"seq":3,', '{"actor":"someone-else@a.test","seq":3,') : line))
          .join('\n'),
      'line 3 has the key "actor" twice (the export was changed)',
    );
  });

  it('refuses a field the hash does not cover', async () => {
    await expectRefused(
      'unknown-field.jsonl',
      (text) =>
        lines(text)
          .map((line, i) => (i === 2 ? line.replace('{"seq":3,', '{"approvedBy":"cfo@a.test","seq":3,') : line))
          .join('\n'),
      'line 3 has an unknown field "approvedBy" (the export was changed)',
    );
  });

  it('refuses a rewritten export signed with another key than the pinned one', async () => {
    const otherKey = generateKeyPairSync('ed25519').privateKey;
    const text = await exportLog();
    const entries = parse(text).map((e) =>
      e.action === 'tenant.created' ? { ...e, actor: 'someone-else@a.test' } : e,
    );
    const rewritten = rehashed(entries);
    const forged = [
      ...rewritten,
      canonicalJson(signHead(otherKey, entries.length, (JSON.parse(rewritten.at(-1)!) as ChainedEntry).hash)),
    ].join('\n');
    const file = await exportFile('forged.jsonl', forged);
    // Unpinned, only the key in the file vouches for it, and the verifier says so.
    const unpinned = await auditVerify(file);
    expect(unpinned.code).toBe(0);
    expect(unpinned.stdout).toContain(`by ${publicKeyText(otherKey)}, the key the file names`);
    const pinned = await auditVerify(file, await hf.services.audit.publicKey());
    expect(pinned.code).toBe(1);
    expect(pinned.stdout).toBe(
      `audit log BROKEN: the export is signed by ${publicKeyText(otherKey)}, not by the pinned key ${await hf.services.audit.publicKey()}: it was not made by that console\n`,
    );
  });

  it("refuses UPDATE, DELETE and TRUNCATE of audit rows, for the console's own role", async () => {
    const { db } = hf.services.database;
    const [row] = await db.select().from(auditLog).where(eq(auditLog.action, 'user.unlocked'));
    if (!row) throw new Error('no user.unlocked entry');
    const refused = async (statement: ReturnType<typeof sql>) => {
      const error = await db.execute(statement).then(
        () => undefined,
        (err: unknown) => err as Error & { cause?: Error },
      );
      return error?.cause?.message ?? error?.message;
    };
    expect(await refused(sql`update audit_log set actor = 'someone-else@a.test' where seq = ${row.seq}`)).toMatch(
      /the audit log is append-only: UPDATE on audit_log is refused|permission denied for table audit_log/,
    );
    expect(await refused(sql`delete from audit_log where seq = ${row.seq}`)).toMatch(
      /the audit log is append-only: DELETE on audit_log is refused|permission denied for table audit_log/,
    );
    expect(await refused(sql`truncate audit_log`)).toMatch(
      /the audit log is append-only: TRUNCATE on audit_log is refused|permission denied for table audit_log/,
    );
    const [still] = await db.select().from(auditLog).where(eq(auditLog.seq, row.seq));
    expect(still).toEqual(row);
    if (database === 'postgres') {
      // Not a superuser here, as in an installation: the role itself has lost the privileges, not only the trigger.
      // postgres.js answers execute() with the rows themselves.
      const rows: unknown = await db.execute(
        sql`select p as privilege, has_table_privilege(current_user, 'audit_log', p) as granted
            from unnest(array['INSERT', 'SELECT', 'UPDATE', 'DELETE', 'TRUNCATE']) as p`,
      );
      const granted = rows as { privilege: string; granted: boolean }[];
      expect(Object.fromEntries(granted.map((r) => [r.privilege, r.granted]))).toEqual({
        INSERT: true,
        SELECT: true,
        UPDATE: false,
        DELETE: false,
        TRUNCATE: false,
      });
    }
    // What the console writes still goes in, and the chain stays whole.
    const result = await auditVerify(await exportFile('after-refusals.jsonl'), await hf.services.audit.publicKey());
    expect(result.stdout).toMatch(/^audit log intact: /);
  });

  it('signs with the key HOLDFAST_AUDIT_SIGNING_KEY gives instead of its own, and refuses any but Ed25519', async () => {
    const key = generateKeyPairSync('ed25519').privateKey;
    const pem = key.export({ format: 'pem', type: 'pkcs8' }).toString();
    const { db } = hf.services.database;
    const fromSecret = new AuditLog(db, hf.services.secrets, pem);
    expect(await fromSecret.publicKey()).toBe(publicKeyText(key));
    expect(await fromSecret.publicKey()).not.toBe(await hf.services.audit.publicKey());
    const text = await collect(fromSecret.exportLines({ ...root, email: hf.bootstrap.email }, '127.0.0.1'));
    const result = await auditVerify(await exportFile('from-secret.jsonl', text), publicKeyText(key));
    expect(result.stdout).toMatch(/^audit log intact: /);

    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' });
    await expect(new AuditLog(db, hf.services.secrets, rsa.toString()).publicKey()).rejects.toThrow(
      'HOLDFAST_AUDIT_SIGNING_KEY is a rsa key; the audit log is signed with Ed25519: openssl genpkey -algorithm ed25519',
    );
  });
});
