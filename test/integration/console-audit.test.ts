// The audit log as an auditor meets it: every change made through the
// console is an entry of one hash chain; the export passes
// `holdfast audit verify`, and a change to the export or to the database
// behind it does not. On the embedded PGlite and on a real PostgreSQL.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENESIS, entryHash, type ChainedEntry } from '../../console/audit/chain.js';
import { newTotpSecret } from '../../console/auth/totp.js';
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

/** `holdfast audit verify FILE`, as an auditor runs it: its exit code and what it prints. */
function auditVerify(file: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['tsx', 'cli/main.ts', 'audit', 'verify', file], { cwd: repo }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

const parse = (jsonl: string) =>
  jsonl
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as ChainedEntry);

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
    hf = await startConsole({ database });
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

  it('passes holdfast audit verify as exported', async () => {
    const text = await exportLog();
    const entries = parse(text);
    const result = await auditVerify(await exportFile('intact.jsonl', text));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      `audit log intact: ${entries.length} entries (1–${entries.length}, ${entries[0]!.at} to ${entries.at(-1)!.at}), last hash ${entries.at(-1)!.hash}\n`,
    );
  });

  it('finds a field changed in one line of the export', async () => {
    const entries = parse(await exportLog());
    const target = entries.find((e) => e.action === 'tenant.updated')!;
    const tampered = entries.map((e) =>
      e.seq === target.seq ? { ...e, after: { ...(e.after as object), displayName: 'Someone else' } } : e,
    );
    const result = await auditVerify(
      await exportFile('changed.jsonl', tampered.map((e) => JSON.stringify(e)).join('\n')),
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toBe(
      `audit log BROKEN at entry ${target.seq}: entry ${target.seq} was altered after it was written (its content does not match its hash)\n`,
    );
  });

  it('finds a line deleted from the export', async () => {
    const lines = (await exportLog()).trim().split('\n');
    const gone = (JSON.parse(lines[4]!) as ChainedEntry).seq;
    lines.splice(4, 1);
    const result = await auditVerify(await exportFile('deleted.jsonl', lines.join('\n')));
    expect(result.code).toBe(1);
    expect(result.stdout).toBe(
      `audit log BROKEN at entry ${gone + 1}: entry ${gone} is missing (found ${gone + 1} after ${gone - 1})\n`,
    );
  });

  it('finds a row changed in the database, also when its hash was recomputed', async () => {
    const { db } = hf.services.database;
    const [row] = await db.select().from(auditLog).where(eq(auditLog.action, 'user.unlocked'));
    if (!row) throw new Error('no user.unlocked entry');

    await db.execute(sql`update audit_log set actor = 'someone-else@a.test' where seq = ${row.seq}`);
    const edited = await auditVerify(await exportFile('db-edited.jsonl'));
    expect(edited.code).toBe(1);
    expect(edited.stdout).toBe(
      `audit log BROKEN at entry ${row.seq}: entry ${row.seq} was altered after it was written (its content does not match its hash)\n`,
    );

    // Whoever can write the table can also recompute the row's hash; the next entry still points to the old one.
    const forged = { ...row, actor: 'someone-else@a.test' };
    await db
      .update(auditLog)
      .set({ hash: entryHash(forged) })
      .where(eq(auditLog.seq, row.seq));
    const rehashed = await auditVerify(await exportFile('db-rehashed.jsonl'));
    expect(rehashed.code).toBe(1);
    expect(rehashed.stdout).toBe(
      `audit log BROKEN at entry ${row.seq + 1}: entry ${row.seq + 1} does not point to the hash of entry ${row.seq}: the log was changed\n`,
    );

    // Put back as written, the chain is whole again, with the exports since appended.
    await db.update(auditLog).set({ actor: row.actor, hash: row.hash }).where(eq(auditLog.seq, row.seq));
    const restored = await auditVerify(await exportFile('db-restored.jsonl'));
    expect(restored.code).toBe(0);
    expect(restored.stdout).toMatch(/^audit log intact: /);
  });
});
